#pragma once
// The one way this project starts a helper program on the host: build tools (cargo, go),
// listing a test binary, a `command` layer's program. The child gets the default signal mask
// (tools block SIGINT and friends for their signal threads) and stdin from /dev/null; it is
// killed and reaped if its owner goes first. Jobs run in containers instead (src/container), and
// registry credential helpers have their own spawn with a stdin pipe and a deadline
// (image/credential_helper.cc).
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mael {

struct ProcessResult {
  int exit_code = 0;  // the exit status, or 128 + signal like a shell
  int signal = 0;     // non-zero when killed by a signal
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0 && signal == 0; }
};

// Runs argv[0] (looked up on PATH) to completion with stdin from /dev/null, collecting stdout and
// stderr. Throws UserError when the program cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::optional<std::filesystem::path>& cwd = std::nullopt);
// Runs the programs at the same time (so the wall time is the slowest one's, not the sum) and
// returns their results in order. Throws like run_process.
std::vector<ProcessResult> run_processes(const std::vector<std::vector<std::string>>& argvs,
                                         const std::optional<std::filesystem::path>& cwd = std::nullopt);

// A running child with its stdout and stderr on pipes. The destructor kills and reaps it if it
// is still running, so nothing is left behind on early exits.
class ChildProcess {
 public:
  // `stderr_to`: a descriptor the child's stderr goes to instead of a pipe (stderr_fd() is then
  // -1); the caller keeps it.
  ChildProcess(const std::vector<std::string>& argv,
               const std::optional<std::filesystem::path>& cwd = std::nullopt, int stderr_to = -1);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int stdout_fd() const { return out_; }
  int stderr_fd() const { return err_; }
  void kill();
  // Waits for the exit; returns the exit status, or 128 + signal.
  int wait();
  // After wait(): the signal that killed the child, or 0.
  int term_signal() const;
  // After wait(): how it ended, for messages: "exit code N" or "signal N".
  std::string how_it_ended() const;

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Reads a whole fd until EOF (restarting on EINTR).
std::string read_all(int fd);

}  // namespace mael
