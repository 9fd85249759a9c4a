#include "gotest/go_cases.h"

#include <optional>

#include "base/subprocess.h"
#include "runner/listing_failure.h"

namespace mael {

namespace {

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80 ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    start = nl + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> parse_go_test_list(std::string_view output) {
  std::vector<std::string> names;
  for (std::string_view line : lines_of(output)) {
    if (!is_identifier(line) || starts_with(line, "Benchmark")) continue;
    if (starts_with(line, "Test") || starts_with(line, "Example") || starts_with(line, "Fuzz"))
      names.emplace_back(line);
  }
  return names;
}

ListedCases list_go_test_binary(const std::filesystem::path& binary, const std::filesystem::path& cwd) {
  ProcessResult r = run_process({binary.string(), "-test.list=."}, cwd);
  check_listing_result(binary, r);
  return {parse_go_test_list(r.out), {}};
}

std::vector<std::string> go_test_arguments(const std::string& case_name, const GoTestFlags& flags) {
  std::vector<std::string> args = {"-test.run",
                                   "^" + case_name + "$",
                                   "-test.timeout=0",
                                   "-test.v",
                                   "-test.paniconexit0",
                                   std::string("-test.short=") + (flags.short_mode ? "true" : "false"),
                                   std::string("-test.fullpath=") + (flags.fullpath ? "true" : "false")};
  args.insert(args.end(), flags.extra.begin(), flags.extra.end());
  return args;
}

bool go_test_skipped(const std::string& case_name, std::string_view stdout_text) {
  std::vector<std::string_view> lines = lines_of(stdout_text);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() < 2 || lines.back() != "PASS") return false;
  return starts_with(lines[lines.size() - 2], "--- SKIP: " + case_name + " ");
}

std::vector<std::string> trim_go_test_output(const std::string& case_name, std::vector<std::string> lines) {
  auto last_index = [&](auto pred) -> std::optional<size_t> {
    for (size_t i = lines.size(); i-- > 0;)
      if (pred(lines[i])) return i;
    return std::nullopt;
  };
  auto first_index = [&](auto pred) -> std::optional<size_t> {
    for (size_t i = 0; i < lines.size(); ++i)
      if (pred(lines[i])) return i;
    return std::nullopt;
  };
  std::string fail_prefix = "--- FAIL: " + case_name + " ";
  auto is_fail_line = [&](const std::string& l) { return starts_with(l, fail_prefix); };
  auto is_bare_fail = [](const std::string& l) { return l == "FAIL"; };
  std::optional<size_t> head, tail;
  if (starts_with(case_name, "Fuzz")) {
    tail = last_index(is_bare_fail);
  } else if (starts_with(case_name, "Example")) {
    head = first_index(is_fail_line);
    tail = last_index(is_bare_fail);
  } else {
    std::string run = "=== RUN   " + case_name;
    head = first_index([&](const std::string& l) { return l == run; });
    tail = last_index(is_fail_line);
  }
  if (tail && (!head || *tail > *head)) lines.erase(lines.begin() + static_cast<long>(*tail), lines.end());
  if (head) lines.erase(lines.begin(), lines.begin() + static_cast<long>(*head) + 1);
  return lines;
}

}  // namespace mael
