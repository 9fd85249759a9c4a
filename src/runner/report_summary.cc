#include "runner/report_summary.h"

#include <algorithm>

#include "runner/report_result.h"

namespace mael {

namespace {

// Left-aligns `text` in `width` columns; colors go around the padded text, as Rust's `colored`
// crate does.
std::string left(const std::string& text, size_t width, const char* color_code, bool color) {
  std::string padded = text;
  size_t w = text_width(text);
  if (w < width) padded += std::string(width - w, ' ');
  if (!color || !color_code) return padded;
  return std::string("\x1b[") + color_code + "m" + padded + "\x1b[0m";
}

std::string right(const std::string& text, size_t width) {
  size_t w = text_width(text);
  return w < width ? std::string(width - w, ' ') + text : text;
}

}  // namespace

std::string NotRunEstimate::to_string() const {
  switch (kind) {
    case Kind::About: return "~" + std::to_string(count);
    case Kind::Exactly: return std::to_string(count);
    case Kind::GreaterThan: return ">" + std::to_string(count);
    case Kind::Unknown: return "unknown number of";
  }
  return "?";
}

std::vector<std::string> summary_lines(const TestSummary& s, size_t width, bool color) {
  constexpr size_t kDigits = 9;
  const std::string heading = " Test Summary ";
  const std::string success = "Successful Tests", failure = "Failed Tests", ignore = "Ignored Tests",
                    flaky = "Flaky Tests", cached = "Cached Tests", not_run = "Tests Not Run";
  std::vector<std::string> lines;
  lines.emplace_back();
  size_t side = width > heading.size() ? (width - heading.size()) / 2 : 0;
  lines.push_back(std::string(side, '=') + heading + std::string(side, '='));

  size_t col1 = std::max(success.size(), failure.size());
  if (!s.ignored.empty()) col1 = std::max(col1, ignore.size());
  if (!s.flaky.empty()) col1 = std::max(col1, flaky.size());
  if (s.cached > 0) col1 = std::max(col1, cached.size());
  if (s.not_run) col1 = std::max(col1, not_run.size());
  auto names_width = [](const std::vector<std::string>& names) {
    size_t w = 0;
    for (const auto& n : names) w = std::max(w, text_width(n));
    return w;
  };

  lines.push_back(left(success, col1, "32", color) + ": " + right(std::to_string(s.succeeded), kDigits));
  lines.push_back(left(failure, col1, "31", color) + ": " + right(std::to_string(s.failed.size()), kDigits));
  size_t fw = names_width(s.failed);
  for (const auto& n : s.failed)
    lines.push_back("    " + left(n, fw, nullptr, false) + ": " + left("failure", 0, "31", color));
  if (!s.ignored.empty()) {
    lines.push_back(left(ignore, col1, "33", color) + ": " +
                    right(std::to_string(s.ignored.size()), kDigits));
    size_t iw = names_width(s.ignored);
    for (const auto& n : s.ignored)
      lines.push_back("    " + left(n, iw, nullptr, false) + ": " + left("ignored", 0, "33", color));
  }
  if (s.cached > 0)
    lines.push_back(left(cached, col1, "32", color) + ": " + right(std::to_string(s.cached), kDigits));
  if (!s.flaky.empty()) {
    lines.push_back(left(flaky, col1, "33", color) + ": " + right(std::to_string(s.flaky.size()), kDigits));
    size_t kw = names_width(s.flaky);
    for (const auto& n : s.flaky)
      lines.push_back("    " + left(n, kw, nullptr, false) + ": " + left("flaky", 0, "33", color));
  }
  if (s.not_run)
    lines.push_back(left(not_run, col1, "31", color) + ": " + right(s.not_run->to_string(), kDigits));
  return lines;
}

}  // namespace mael
