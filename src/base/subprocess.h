#pragma once
// The one way this project starts a helper program on the host: build tools (cargo, go),
// listing a test binary, a `command` layer's program, a registry credential helper. The child
// gets the default signal mask (tools block SIGINT and friends for their signal threads) and
// stdin from /dev/null unless given input; it is killed and reaped if its owner goes first. Jobs
// run in containers instead (src/container).
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd_io.h"  // read_all, for a child's output
#include "base/unique_fd.h"

namespace mael {

// Thrown when the program is not found (on PATH, or at its path): callers that have a better
// message for that case catch it; it is a UserError like any other failure to start.
class ProgramNotFound : public UserError {
 public:
  using UserError::UserError;
};

struct ProcessResult {
  int exit_code = 0;  // the exit status, or 128 + signal like a shell
  int signal = 0;     // non-zero when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;  // killed because RunOptions::timeout passed
  bool ok() const { return exit_code == 0 && signal == 0; }
};

struct RunOptions {
  std::optional<std::filesystem::path> cwd;
  // Written to the child's stdin, which is then closed (stdin is /dev/null without it). A child
  // that exits or closes its stdin without reading it all is not an error.
  std::optional<std::string> input;
  // The child is killed (SIGKILL) if it has not closed its stdout and stderr by then (counted
  // from the start); the result says timed_out.
  std::optional<std::chrono::milliseconds> timeout;
  // Bytes kept of each of stdout and stderr; the rest is read and dropped.
  size_t max_output = std::numeric_limits<size_t>::max();
};

// Runs argv[0] (looked up on PATH) to completion, collecting stdout and stderr. Throws
// ProgramNotFound or another UserError when the program cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, const RunOptions& options);
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::optional<std::filesystem::path>& cwd = std::nullopt);
// Runs the programs at the same time (so the wall time is the slowest one's, not the sum) and
// returns their results in order; each gets the same options. Throws like run_process.
std::vector<ProcessResult> run_processes(const std::vector<std::vector<std::string>>& argvs,
                                         const RunOptions& options);
std::vector<ProcessResult> run_processes(const std::vector<std::vector<std::string>>& argvs,
                                         const std::optional<std::filesystem::path>& cwd = std::nullopt);

struct ChildOptions {
  std::optional<std::filesystem::path> cwd;
  // A descriptor the child's stderr goes to instead of a pipe (stderr_fd() is then -1); the
  // caller keeps it.
  int stderr_to = -1;
  // stdin is a pipe the caller writes to through stdin_fd() (and ends with close_stdin()),
  // instead of /dev/null.
  bool stdin_pipe = false;
  // The child leads a process group of its own, and kill() kills the whole group: for a tool
  // whose own children (go's compilers) must end with it. Such a child no longer gets the
  // terminal's Ctrl-C itself (the runners forward it, see base/descendants.h).
  bool own_process_group = false;
};

// A running child with its stdout and stderr on pipes. The destructor kills and reaps it if it
// is still running, so nothing is left behind on early exits.
class ChildProcess {
 public:
  // Throws ProgramNotFound or another UserError when argv[0] cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options);
  // `stderr_to`: as ChildOptions::stderr_to.
  ChildProcess(const std::vector<std::string>& argv,
               const std::optional<std::filesystem::path>& cwd = std::nullopt, int stderr_to = -1);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int stdin_fd() const { return in_.get(); }  // -1 without ChildOptions::stdin_pipe
  int stdout_fd() const { return out_.get(); }
  int stderr_fd() const { return err_.get(); }
  // Closes our end of the child's stdin: it reads EOF.
  void close_stdin() { in_.reset(); }
  // SIGKILL (to its process group with own_process_group), unless already reaped. Safe to call
  // from another thread while one waits: the child is reaped under the same lock, so its pid is
  // never reused by the time the signal is sent.
  void kill();
  // Waits for the exit; returns the exit status, or 128 + signal.
  int wait();
  // After wait(): the signal that killed the child, or 0.
  int term_signal() const;
  // After wait(): how it ended, for messages: "exit code N" or "signal N".
  std::string how_it_ended() const;

 private:
  pid_t pid_ = -1;
  bool group_ = false;
  UniqueFd in_, out_, err_;
  std::mutex mu_;  // guards reaped_ and status_ against kill() from another thread
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace mael
