#pragma once
// One finished test as the runner reports it, and its per-test status line in the layout of
// Maelstrom's "simple" UI:
//   NAME.....................................OK   0.123s
// padded with dots to the terminal width (80 when not a terminal), the name cut from the
// start with a leading `<` when too long. Failed tests' details and output follow the line.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spec/spec.h"

namespace mael {

// Flaky: failed, then passed on a retry (--retries); it counts as passed. Cached: not run, as its
// job is that of its last pass (runner/result_cache.h); it counts as passed too.
enum class TestStatus : uint8_t { Ok, Failure, TimedOut, Error, Ignored, Flaky, Cached };
// "OK", "FAIL", "TIMEOUT", "ERR", "IGNORED", "FLAKY", "CACHED"
const char* test_status_word(TestStatus s);

struct TestResult {
  std::string name;
  TestStatus status = TestStatus::Ok;
  std::optional<std::string> details;  // printed under the status line ("killed by signal 9", errors)
  std::string reason;                  // one line for reports: "exited with code 1", "timed out", ...
  std::optional<std::chrono::nanoseconds> duration;
  std::vector<std::string> stdout_lines;  // only kept for failures
  std::vector<std::string> stderr_lines;
  int exit_code = 0;  // what the runner exits with if this is the first failure
  // With retries: the attempt this result is from (1-based) and the attempts allowed; the
  // failed attempts before it, oldest first.
  size_t attempt = 1;
  size_t attempts = 1;
  std::vector<TestResult> earlier;
  bool from_cache = false;  // IGNORED without running: its last run with the same job skipped
  bool failed() const {
    return status == TestStatus::Failure || status == TestStatus::TimedOut || status == TestStatus::Error;
  }
};

// Adapter hooks, optional: a filter for stdout lines before they are shown, and whether a test
// that exited 0 said it skipped itself (reported IGNORED, with no duration).
struct OutcomeHooks {
  std::function<std::vector<std::string>(std::vector<std::string> stdout_lines)> clean_stdout;
  // nullopt: it ran; otherwise the reason it gives ("" when it gives none), shown under the line.
  std::function<std::optional<std::string>(std::string_view stdout_text)> skipped;
};

// Maelstrom's mapping: exit 0 -> OK; other exit -> FAIL with output; signal -> FAIL "killed by
// signal N"; timeout -> TIMEOUT with output; job errors -> ERR "execution error: ..." or
// "system error: ...". `job_id` appears in "job N: stdout truncated, B bytes lost".
TestResult test_result_from_outcome(std::string name, const JobOutcome& outcome, uint64_t job_id,
                                    const OutcomeHooks& hooks = {});
TestResult ignored_result(std::string name);
// CACHED for a test not run because its last pass had the same job.
TestResult cached_result(std::string name);
// IGNORED for a test not run because its last run with the same job skipped itself, giving `why`
// (shown with "(cached)" after it).
TestResult cached_skip_result(std::string name, std::string why);
// ERR for a test whose job could not be made (its spec names a missing file, ...).
TestResult error_result(std::string name, std::string message);

// Splits output at '\n'; a final line without '\n' is kept, the empty tail after a final '\n'
// is not.
std::vector<std::string> split_output_lines(std::string_view output);

// The status line for `r` in a terminal `width` columns wide, with ANSI colors when `color`.
std::string status_line(const TestResult& r, size_t width, bool color);
// The lines a finished test prints on stdout: the status line, the details, the stdout lines,
// then each non-empty stderr line as "stderr: LINE".
void format_result(const TestResult& r, size_t width, bool color, std::vector<std::string>& out);

// Terminal columns of UTF-8 text (base/display_width.h: wide characters take two).
size_t text_width(std::string_view s);

}  // namespace mael
