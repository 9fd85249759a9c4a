#pragma once
// The end-of-run summary, line for line as Maelstrom prints it (scripts parse it). With
// width 80 (not a terminal) and no colors:
//
//   ================================= Test Summary =================================
//   Successful Tests:         5
//   Failed Tests    :         2
//       pkg test_a: failure
//       pkg b     : failure
//   Ignored Tests   :         1
//       pkg c: ignored
//   Tests Not Run   :        ~3
//
// `Cached Tests` (how many of the successful tests were not run, their results cached) and
// `Flaky Tests` (with their names) follow `Ignored Tests` when there are any.
//
// preceded by an empty line. The first column is as wide as its longest label shown; counts
// are right-aligned in 9 columns; names are padded to the longest name of their group.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mael {

struct NotRunEstimate {
  enum class Kind : uint8_t { About, Exactly, GreaterThan, Unknown };
  Kind kind = Kind::Exactly;
  uint64_t count = 0;
  std::string to_string() const;  // "~N", "N", ">N", "unknown number of"
};

struct TestSummary {
  size_t succeeded = 0;
  std::vector<std::string> failed;  // names, in the order to show them
  std::vector<std::string> ignored;
  std::vector<std::string> flaky;  // "NAME (A/N)": passed on attempt A of N; counted in succeeded
  size_t cached = 0;  // not run, their last pass had the same job; counted in succeeded
  std::optional<NotRunEstimate> not_run;  // set after an early stop (--stop-after)
};

std::vector<std::string> summary_lines(const TestSummary& s, size_t width = 80, bool color = false);

}  // namespace mael
