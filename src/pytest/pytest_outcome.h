#pragma once
// Reading one test's pytest run: whether the item was skipped or xfailed (reported IGNORED with
// pytest's reason), from the final summary line and the short test summary that `-rsx` adds.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

// nullopt when the item ran (passed or xpassed); otherwise "skipped: REASON" or
// "xfailed: REASON" ("skipped" / "xfailed" alone when pytest gives no reason).
std::optional<std::string> pytest_skip_reason(std::string_view stdout_text);

struct PytestRunFlags {
  std::vector<std::string> extra_args;       // extra-pytest-args
  std::vector<std::string> extra_test_args;  // extra-pytest-test-args
};

// The arguments after the interpreter that run exactly the item `file::inner`.
std::vector<std::string> pytest_test_arguments(const std::string& file, const std::string& inner,
                                               const PytestRunFlags& flags);

}  // namespace mael
