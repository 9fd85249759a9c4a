#include "cargo/cargo_cases.h"

#include "base/error.h"
#include "base/subprocess.h"
#include "runner/listing_failure.h"

namespace mael {

std::vector<std::string> parse_terse_list(std::string_view output) {
  std::vector<std::string> names;
  constexpr std::string_view kSuffix = ": test";
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    std::string_view line = output.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kSuffix.size() && line.substr(line.size() - kSuffix.size()) == kSuffix)
      names.emplace_back(line.substr(0, line.size() - kSuffix.size()));
  }
  return names;
}

ListedCases list_test_binary(const std::filesystem::path& binary, const std::filesystem::path& cwd) {
  std::vector<std::string> argv = {binary.string(), "--list", "--format", "terse"};
  std::vector<std::string> ignored_argv = argv;
  ignored_argv.push_back("--ignored");
  std::vector<ProcessResult> rs = run_processes({argv, ignored_argv}, cwd);
  check_listing_result(binary, rs[0]);
  check_listing_result(binary, rs[1]);
  return {parse_terse_list(rs[0].out), parse_terse_list(rs[1].out)};
}

std::vector<std::string> trim_harness_output(const std::string& case_name, std::vector<std::string> lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == "running 1 test") {
      lines.erase(lines.begin(), lines.begin() + static_cast<long>(i) + 1);
      break;
    }
  }
  std::string result_prefix = "test " + case_name + " ... ";
  for (size_t i = lines.size(); i-- > 0;) {
    if (lines[i].rfind(result_prefix, 0) == 0) {
      lines.erase(lines.begin() + static_cast<long>(i), lines.end());
      break;
    }
  }
  return lines;
}

}  // namespace mael
