#pragma once
// What a test run shows while it runs, in Maelstrom's UI styles:
//   simple: one status line per test (and failed tests' output), then the summary; build
//           output goes straight to stderr as it comes. On a terminal, progress bars for
//           waiting-for-artifacts / pending / running / completed under the lines.
//   fancy:  on a terminal, a live area redrawn in place under the finished tests' lines:
//           those progress bars, the tests running now, and the last lines of build output.
//   quiet:  only the summary (and build warnings); on a terminal, one progress bar until then.
//   auto:   fancy when stdout is a terminal, else simple.
// Every method is thread-safe (jobs finish on executor threads).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/report_result.h"
#include "spec/spec.h"

namespace mael {

enum class UiKind : uint8_t { Auto, Simple, Fancy, Quiet };
// "auto", "simple", "fancy", "quiet"; nullopt otherwise.
std::optional<UiKind> ui_kind_from_name(std::string_view name);

class RunUi {
 public:
  virtual ~RunUi() = default;
  // Text the build tool wrote to its stderr (any chunking).
  virtual void build_output(std::string_view chunk) = 0;
  virtual void build_done() {}
  // A line of --list-tests output.
  virtual void list_line(const std::string& line) = 0;
  // How many jobs the run is expected to have (grows as tests are discovered).
  virtual void expected_jobs(size_t) {}
  virtual void job_enqueued(uint64_t /*id*/, const std::string& /*name*/) {}
  virtual void job_state(uint64_t /*id*/, JobState) {}
  virtual void job_finished(uint64_t id, const TestResult& r) = 0;
  // A note for the user (goes above the live area).
  virtual void message(const std::string& line) = 0;
  // The end: summary lines, then the build tool's warnings (may be empty).
  virtual void finish(const std::vector<std::string>& summary, const std::string& build_warnings) = 0;
  // The run is being abandoned (Ctrl-C): show what already finished, take the live area off
  // the terminal, and ignore every call after this one (cancelled jobs are not reported).
  virtual void abandon() {}
};

struct UiSettings {
  UiKind kind = UiKind::Auto;
  bool stdout_tty = false;
  size_t width = 80;  // terminal width, 80 when not a terminal
  FILE* out = stdout;
  FILE* err = stderr;
};

// Resolves Auto and refuses fancy without a terminal (UserError).
UiKind effective_ui_kind(UiKind requested, bool stdout_tty);
// The UI of the settings' kind; after its abandon() every call is ignored.
std::unique_ptr<RunUi> make_run_ui(const UiSettings& settings);

// The terminal's width when fd is a terminal, else 80.
size_t terminal_width(int fd);

// The fancy UI's live area for a state snapshot (exposed for tests).
struct LiveState {
  size_t expected = 0;  // total jobs known or expected
  size_t waiting = 0, pending = 0, running = 0, completed = 0;
  size_t failed = 0;
  size_t cached = 0;  // of the completed: not run, their results cached
  std::vector<std::pair<std::string, std::chrono::steady_clock::duration>> running_tests;  // name, elapsed
  std::vector<std::string> build_lines;                                                    // last few
  bool building = false;
};
std::vector<std::string> render_live_area(const LiveState& s, size_t width, size_t max_running = 8);
// The quiet UI's one line: "[###---] 3/10 tests", with " (N failed, M cached)" when some
// failed or were cached (either part alone when the other is 0).
std::string render_one_bar(const LiveState& s, size_t width);

}  // namespace mael
