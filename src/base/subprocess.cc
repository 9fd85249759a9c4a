#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

extern char** environ;

namespace mael {

namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Blocks SIGPIPE in this thread while writing to a child's stdin, so a child that does not read
// it gives EPIPE rather than killing us; the SIGPIPEs raised meanwhile are consumed before the
// old mask comes back.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    timespec zero{};
    while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_, old_;
};

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::optional<std::filesystem::path>& cwd, int stderr_to)
    : ChildProcess(argv, ChildOptions{cwd, stderr_to, false}) {}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  Pipe in, out = open_pipe(), err;
  if (options.stdin_pipe) in = open_pipe();
  if (options.stderr_to < 0) err = open_pipe();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (options.stdin_pipe) {
    posix_spawn_file_actions_adddup2(&fa, in.read.get(), 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, options.stderr_to >= 0 ? options.stderr_to : err.write.get(), 2);
  if (options.cwd) posix_spawn_file_actions_addchdir_np(&fa, options.cwd->c_str());
  // The runners block SIGINT/SIGTERM for their signal thread; children get the default mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  short flags = POSIX_SPAWN_SETSIGMASK;
  if (options.own_process_group) {
    posix_spawnattr_setpgroup(&attr, 0);  // its own pid
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  group_ = options.own_process_group;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // ETXTBSY: the program was just written (a test binary copied into place) and another
  // thread's child, forked meanwhile, still holds an inherited descriptor open for writing
  // until it execs. That passes in a moment: try again for up to two seconds.
  int rc = 0;
  for (int attempt = 0;; ++attempt) {
    rc = posix_spawnp(&pid_, argv[0].c_str(), &fa, &attr, args.data(), environ);
    if (rc != ETXTBSY || attempt == 200) break;
    ::usleep(10'000);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc == ENOENT) {
    throw ProgramNotFound("cannot run '" + argv[0] + "': " + std::strerror(rc) +
                          " (is it installed and on PATH?)");
  }
  if (rc == EACCES || rc == ENOEXEC) {
    throw UserError("cannot run '" + argv[0] + "': " + std::strerror(rc) + " (is it installed and on PATH?)");
  }
  if (rc != 0) throw_errno("spawn " + argv[0], rc);
  // The child's ends close here; ours stay.
  in_ = std::move(in.write);
  out_ = std::move(out.read);
  err_ = std::move(err.read);
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    kill();
    wait();
  }
}

void ChildProcess::kill() {
  std::lock_guard lk(mu_);
  if (!reaped_ && pid_ > 0) ::kill(group_ ? -pid_ : pid_, SIGKILL);
}

int ChildProcess::wait() {
  {
    std::lock_guard lk(mu_);
    if (reaped_) return exit_code_of(status_);
  }
  // Waits for the end without reaping (the child stays a zombie, its pid taken), then reaps
  // under the lock kill() takes.
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0) {
    if (errno != EINTR) throw_errno("waitid");
  }
  std::lock_guard lk(mu_);
  if (!reaped_) {
    while (waitpid(pid_, &status_, 0) < 0) {
      if (errno != EINTR) throw_errno("waitpid");
    }
    reaped_ = true;
  }
  return exit_code_of(status_);
}

int ChildProcess::term_signal() const {
  return reaped_ && WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
}

std::string ChildProcess::how_it_ended() const {
  if (int sig = term_signal()) return "signal " + std::to_string(sig);
  return "exit code " + std::to_string(exit_code_of(status_));
}

ProcessResult run_process(const std::vector<std::string>& argv, const RunOptions& options) {
  return std::move(run_processes({argv}, options)[0]);
}

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::optional<std::filesystem::path>& cwd) {
  return run_process(argv, RunOptions{.cwd = cwd});
}

std::vector<ProcessResult> run_processes(const std::vector<std::vector<std::string>>& argvs,
                                         const std::optional<std::filesystem::path>& cwd) {
  return run_processes(argvs, RunOptions{.cwd = cwd});
}

std::vector<ProcessResult> run_processes(const std::vector<std::vector<std::string>>& argvs,
                                         const RunOptions& options) {
  using Clock = std::chrono::steady_clock;
  // (Without a timeout the deadline is never looked at.)
  const Clock::time_point deadline = Clock::now() + options.timeout.value_or(std::chrono::milliseconds(0));
  const bool feed = options.input.has_value();
  std::optional<SigpipeBlocked> no_sigpipe;
  if (feed) no_sigpipe.emplace();
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (const auto& argv : argvs) {
    children.push_back(std::make_unique<ChildProcess>(argv, ChildOptions{options.cwd, -1, feed}));
    if (feed) check_sys(fcntl(children.back()->stdin_fd(), F_SETFL, O_NONBLOCK), "fcntl");
  }
  std::vector<ProcessResult> results(argvs.size());
  // Per child: stdout, stderr, then (with input) stdin.
  const size_t per_child = feed ? 3 : 2;
  std::vector<pollfd> fds;
  std::vector<size_t> fed(children.size(), 0);  // bytes of the input written so far
  for (const auto& child : children) {
    fds.push_back({child->stdout_fd(), POLLIN, 0});
    fds.push_back({child->stderr_fd(), POLLIN, 0});
    if (feed) fds.push_back({child->stdin_fd(), POLLOUT, 0});
  }
  // The loop runs while any child has stdout or stderr open; stdin does not keep it going.
  size_t outputs_open = 2 * children.size();
  char buf[65536];
  while (outputs_open > 0) {
    int wait_ms = -1;
    if (options.timeout) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        for (size_t c = 0; c < children.size(); ++c) {
          if (fds[c * per_child].fd < 0 && fds[c * per_child + 1].fd < 0) continue;
          children[c]->kill();
          results[c].timed_out = true;
        }
        break;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(left, 60'000));
    }
    int n = poll(fds.data(), fds.size(), wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      size_t c = i / per_child;
      if (i % per_child == 2) {
        // Input: as much as the pipe takes; all written, or the child stopped reading: close it.
        const std::string& input = *options.input;
        ssize_t w =
            input.size() > fed[c] ? write(fds[i].fd, input.data() + fed[c], input.size() - fed[c]) : 0;
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (w > 0) fed[c] += static_cast<size_t>(w);
        if (w < 0 || fed[c] == input.size()) {
          children[c]->close_stdin();
          fds[i].fd = -1;
        }
        continue;
      }
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        fds[i].fd = -1;
        --outputs_open;
        continue;
      }
      std::string& sink = i % per_child == 0 ? results[c].out : results[c].err;
      sink.append(buf, std::min(static_cast<size_t>(r),
                                options.max_output - std::min(options.max_output, sink.size())));
    }
  }
  for (size_t i = 0; i < children.size(); ++i) {
    children[i]->close_stdin();
    results[i].exit_code = children[i]->wait();
    results[i].signal = children[i]->term_signal();
  }
  return results;
}

}  // namespace mael
