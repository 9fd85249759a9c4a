#include "runner/report_result.h"

#include <cstdio>

#include "base/display_width.h"
#include "base/format.h"

namespace mael {

namespace {

constexpr const char* kReset = "\x1b[0m";

std::string paint(std::string_view text, const char* code, bool color) {
  if (!color) return std::string(text);
  return std::string("\x1b[") + code + "m" + std::string(text) + kReset;
}

const char* status_color(TestStatus s) {
  switch (s) {
    case TestStatus::Ok:
    case TestStatus::Cached: return "32";
    case TestStatus::Ignored:
    case TestStatus::Flaky: return "33";
    default: return "31";
  }
}

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// The longest tail of `s` at most `max` columns wide.
std::string_view tail_within(std::string_view s, size_t max, size_t& width) {
  size_t start = s.size();
  width = 0;
  while (start > 0) {
    size_t p = start - 1;
    while (p > 0 && is_continuation(static_cast<unsigned char>(s[p]))) --p;
    // Measured as display_width measures it (a short or broken sequence is one column a byte).
    size_t w = display_width(s.substr(p, start - p));
    if (width + w > max) break;
    width += w;
    start = p;
  }
  return s.substr(start);
}

void add_output(const JobOutput& o, const char* stream, uint64_t job_id, const OutcomeHooks& hooks,
                bool is_stdout, std::vector<std::string>& lines) {
  std::vector<std::string> l = split_output_lines(o.first);
  if (is_stdout && hooks.clean_stdout) l = hooks.clean_stdout(std::move(l));
  lines.insert(lines.end(), l.begin(), l.end());
  if (o.truncated > 0)
    lines.push_back("job " + std::to_string(job_id) + ": " + stream + " truncated, " +
                    std::to_string(o.truncated) + " bytes lost");
}

}  // namespace

const char* test_status_word(TestStatus s) {
  switch (s) {
    case TestStatus::Ok: return "OK";
    case TestStatus::Failure: return "FAIL";
    case TestStatus::TimedOut: return "TIMEOUT";
    case TestStatus::Error: return "ERR";
    case TestStatus::Ignored: return "IGNORED";
    case TestStatus::Flaky: return "FLAKY";
    case TestStatus::Cached: return "CACHED";
  }
  return "?";
}

size_t text_width(std::string_view s) {
  return display_width(s);
}

std::vector<std::string> split_output_lines(std::string_view output) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = output.find('\n', start)) != std::string_view::npos; start = nl + 1)
    lines.emplace_back(output.substr(start, nl - start));
  if (start < output.size()) lines.emplace_back(output.substr(start));
  return lines;
}

TestResult test_result_from_outcome(std::string name, const JobOutcome& outcome, uint64_t job_id,
                                    const OutcomeHooks& hooks) {
  TestResult r;
  r.name = std::move(name);
  const JobEffects& fx = outcome.effects;
  auto add_streams = [&] {
    add_output(fx.stdout_, "stdout", job_id, hooks, true, r.stdout_lines);
    add_output(fx.stderr_, "stderr", job_id, hooks, false, r.stderr_lines);
  };
  if (const auto* e = std::get_if<Exited>(&outcome.result)) {
    r.duration = fx.duration;
    r.exit_code = e->code;
    if (e->code == 0) {
      r.status = TestStatus::Ok;
      if (std::optional<std::string> why = hooks.skipped ? hooks.skipped(fx.stdout_.first) : std::nullopt) {
        r.status = TestStatus::Ignored;
        if (!why->empty()) r.details = std::move(*why);
        r.duration.reset();
      }
      return r;
    }
    r.status = TestStatus::Failure;
    r.reason = "exited with code " + std::to_string(e->code);
    add_streams();
  } else if (const auto* s = std::get_if<Signaled>(&outcome.result)) {
    r.duration = fx.duration;
    r.status = TestStatus::Failure;
    r.details = "killed by signal " + std::to_string(s->signal);
    r.reason = *r.details;
    r.exit_code = 1;
    add_streams();
  } else if (std::holds_alternative<TimedOut>(outcome.result)) {
    r.duration = fx.duration;
    r.status = TestStatus::TimedOut;
    r.reason = "timed out";
    r.exit_code = 1;
    add_streams();
  } else {
    const auto& err = std::get<JobError>(outcome.result);
    r.status = TestStatus::Error;
    r.details = std::string(err.kind == JobErrorKind::Execution ? "execution error: " : "system error: ") +
                err.message;
    r.reason = *r.details;
    r.exit_code = 1;
  }
  return r;
}

TestResult error_result(std::string name, std::string message) {
  TestResult r;
  r.name = std::move(name);
  r.status = TestStatus::Error;
  r.details = std::move(message);
  r.reason = *r.details;
  r.exit_code = 1;
  return r;
}

namespace {

// A result of a test that did not run.
TestResult not_run_result(std::string name, TestStatus status, std::string reason) {
  TestResult r;
  r.name = std::move(name);
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

TestResult cached_result(std::string name) {
  return not_run_result(std::move(name), TestStatus::Cached, "passed before with the same job");
}

TestResult cached_skip_result(std::string name, std::string why) {
  // As a run that skipped itself is reported, marked as not run.
  TestResult r = not_run_result(std::move(name), TestStatus::Ignored, "skipped before with the same job");
  r.details = why.empty() ? std::string("(cached)") : why + " (cached)";
  r.from_cache = true;
  return r;
}

TestResult ignored_result(std::string name) {
  return not_run_result(std::move(name), TestStatus::Ignored, "ignored");
}

std::string status_line(const TestResult& r, size_t width, bool color) {
  std::string word = test_status_word(r.status);
  if (r.status == TestStatus::Flaky) word += " " + std::to_string(r.attempt) + "/" + std::to_string(r.attempts);
  std::string result = paint(word, status_color(r.status), color);
  if (width <= 10) return r.name + " " + result;
  std::string duration;
  if (r.duration) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3fs", std::chrono::duration<double>(*r.duration).count());
    duration = buf;
  }
  std::string padded_duration =
      duration.size() < 8 ? std::string(8 - duration.size(), ' ') + duration : duration;
  std::string trailer = result + " " + padded_duration;
  size_t trailer_width = word.size() + 1 + std::max<size_t>(duration.size(), 8);
  size_t name_width = text_width(r.name);
  if (name_width + trailer_width < width) {
    return paint(r.name, "1", color) + std::string(width - trailer_width - name_width, '.') + trailer;
  }
  size_t max = width > 2 + trailer_width ? width - 2 - trailer_width : 0;
  size_t tail_width;
  std::string_view tail = tail_within(r.name, max, tail_width);
  size_t dots = width > trailer_width + tail_width + 1 ? width - trailer_width - tail_width - 1 : 0;
  return "<" + paint(tail, "1", color) + std::string(dots, '.') + trailer;
}

void format_result(const TestResult& r, size_t width, bool color, std::vector<std::string>& out) {
  out.push_back(status_line(r, width, color));
  // A result's stdout lines, then its stderr lines as Maelstrom prints them: on stdout, after
  // the stdout lines, each marked; an empty line has nothing to mark and is left out.
  auto output = [&](const TestResult& x) {
    out.insert(out.end(), x.stdout_lines.begin(), x.stdout_lines.end());
    for (const std::string& l : x.stderr_lines)
      if (!l.empty()) out.push_back(paint("stderr:", "31", color) + " " + l);
  };
  // Every failed attempt's output (under a line naming it), then this one's.
  for (const TestResult& e : r.earlier) {
    out.push_back(mael::format("attempt {} of {}: {}", e.attempt, e.attempts, e.reason));
    if (e.details && *e.details != e.reason) out.push_back(*e.details);
    output(e);
  }
  if (!r.earlier.empty() && r.failed()) out.push_back(mael::format("attempt {} of {}: {}", r.attempt, r.attempts, r.reason));
  if (r.details) out.push_back(*r.details);
  output(r);
}

}  // namespace mael
