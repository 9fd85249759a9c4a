#include "pytest/pytest_outcome.h"

#include <re2/re2.h>

#include "runner/report_result.h"

namespace mael {

std::optional<std::string> pytest_skip_reason(std::string_view out) {
  static const RE2 kFinal(R"(^=+ (.*) in [0-9.]+s.* =+$)");
  static const RE2 kCount(R"(^\d+ (\w+)$)");
  static const RE2 kSkipped(R"(^SKIPPED \[\d+\] .*?:\d+: (.*)$)");
  static const RE2 kXfail(R"(^XFAIL \S+(?: - (.*))?$)");
  std::vector<std::string> lines = split_output_lines(out);
  std::string counts;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (RE2::FullMatch(*it, kFinal, &counts)) break;
  if (counts.empty()) return std::nullopt;
  bool ignored = false;
  std::string_view rest = counts;
  while (!rest.empty()) {
    size_t comma = rest.find(", ");
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    std::string word;
    if (!RE2::FullMatch(part, kCount, &word)) return std::nullopt;
    if (word == "skipped" || word == "xfailed") {
      ignored = true;
    } else if (word != "warning" && word != "warnings" && word != "deselected") {
      return std::nullopt;  // passed, xpassed, failed, error...
    }
  }
  if (!ignored) return std::nullopt;
  for (const std::string& l : lines) {
    std::string reason;
    if (RE2::FullMatch(l, kSkipped, &reason)) return "skipped: " + reason;
    if (RE2::FullMatch(l, kXfail, &reason)) return reason.empty() ? "xfailed" : "xfailed: " + reason;
  }
  return counts.find("xfailed") != std::string::npos ? "xfailed" : "skipped";
}

std::vector<std::string> pytest_test_arguments(const std::string& file, const std::string& inner,
                                               const PytestRunFlags& flags) {
  // -p no:cacheprovider: the project is read-only in the container, where pytest's cache would
  // only warn that it cannot be written. -rsx: skip and xfail reasons in the short summary.
  // --rootdir=.: the working directory, where the project's files are, as on the host (without
  // an ini file pytest would take the test file's directory, and miss conftest files above it).
  std::vector<std::string> args = {"-m", "pytest", "--verbose", "-rsx", "-p", "no:cacheprovider", "--rootdir=."};
  args.insert(args.end(), flags.extra_args.begin(), flags.extra_args.end());
  args.insert(args.end(), flags.extra_test_args.begin(), flags.extra_test_args.end());
  args.push_back(inner.empty() ? file : file + "::" + inner);
  return args;
}

}  // namespace mael
