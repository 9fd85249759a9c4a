#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/error.h"

extern char** environ;

namespace mael {

namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::optional<std::filesystem::path>& cwd, int stderr_to) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  int out[2], err[2] = {-1, -1};
  check_sys(pipe2(out, O_CLOEXEC), "pipe");
  if (stderr_to < 0 && pipe2(err, O_CLOEXEC) < 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    throw_errno("pipe", e);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, stderr_to >= 0 ? stderr_to : err[1], 2);
  if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd->c_str());
  // The runners block SIGINT/SIGTERM for their signal thread; children get the default mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawnp(&pid_, argv[0].c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  if (err[1] >= 0) close(err[1]);
  if (rc != 0) {
    close(out[0]);
    if (err[0] >= 0) close(err[0]);
    if (rc == ENOENT || rc == EACCES || rc == ENOEXEC)
      throw UserError("cannot run '" + argv[0] + "': " + std::strerror(rc) +
                      " (is it installed and on PATH?)");
    throw_errno("spawn " + argv[0], rc);
  }
  out_ = out[0];
  err_ = err[0];
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    kill();
    wait();
  }
  if (out_ >= 0) close(out_);
  if (err_ >= 0) close(err_);
}

void ChildProcess::kill() {
  if (!reaped_ && pid_ > 0) ::kill(pid_, SIGKILL);
}

int ChildProcess::wait() {
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

std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::optional<std::filesystem::path>& cwd) {
  return std::move(run_processes({argv}, cwd)[0]);
}

std::vector<ProcessResult> run_processes(const std::vector<std::vector<std::string>>& argvs,
                                         const std::optional<std::filesystem::path>& cwd) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (const auto& argv : argvs) children.push_back(std::make_unique<ChildProcess>(argv, cwd));
  std::vector<ProcessResult> results(argvs.size());
  // Two fds per child: stdout then stderr.
  std::vector<pollfd> fds;
  std::vector<std::string*> sinks;
  for (size_t i = 0; i < children.size(); ++i) {
    fds.push_back({children[i]->stdout_fd(), POLLIN, 0});
    sinks.push_back(&results[i].out);
    fds.push_back({children[i]->stderr_fd(), POLLIN, 0});
    sinks.push_back(&results[i].err);
  }
  size_t open = fds.size();
  char buf[65536];
  while (open > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
      } else {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (size_t i = 0; i < children.size(); ++i) {
    results[i].exit_code = children[i]->wait();
    results[i].signal = children[i]->term_signal();
  }
  return results;
}

}  // namespace mael
