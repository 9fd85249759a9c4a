#include "container/shell_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.h"

namespace mael {
namespace {

constexpr size_t kStackSize = 256 * 1024;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Reaps the shell behind pidfd (blocking).
void reap(int pidfd) {
  siginfo_t info;
  while (::waitid(P_PIDFD, pidfd, &info, WEXITED) < 0 && errno == EINTR) {
  }
}

}  // namespace

ShellProcess::ShellProcess(bool network_namespace, const char* staging) {
  int pipes[5][2];
  auto close_pipes = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ::close(pipes[i][0]);
      ::close(pipes[i][1]);
    }
  };
  for (int i = 0; i < 5; ++i)
    if (::pipe2(pipes[i], O_CLOEXEC) < 0) {
      int e = errno;
      close_pipes(i);
      throw_errno("pipe", e);
    }
  int* ctl = pipes[0];
  int* report = pipes[1];
  int* in = pipes[2];
  int* out = pipes[3];
  int* err = pipes[4];
  stack_ = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (stack_ == MAP_FAILED) {
    int e = errno;
    stack_ = nullptr;
    close_pipes(5);
    throw_errno("mmap shell stack", e);
  }
  shared_.ctl_r = ctl[0];
  shared_.report_w = report[1];
  shared_.in_r = in[0];
  shared_.out_w = out[1];
  shared_.err_w = err[1];
  shared_.staging = staging;
  int flags = CLONE_VM | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
              CLONE_NEWUTS | SIGCHLD;
  if (network_namespace) flags |= CLONE_NEWNET;
  int pid = ::clone(child::shell_main, static_cast<char*>(stack_) + kStackSize, flags, &shared_,
                    &pidfd_);
  int e = errno;
  // The shell has its own copies; keep only our ends (stdin's write end goes
  // too: the job's stdin is at EOF).
  ::close(ctl[0]);
  ::close(report[1]);
  ::close(in[0]);
  ::close(in[1]);
  ::close(out[1]);
  ::close(err[1]);
  ctl_w_ = ctl[1];
  report_r_ = report[0];
  out_r_ = out[0];
  err_r_ = err[0];
  if (pid < 0) {
    pidfd_ = -1;
    release_stack();
    close_fd(ctl_w_);
    close_fd(report_r_);
    close_fd(out_r_);
    close_fd(err_r_);
    throw_errno("clone (new user, mount, pid, ipc, uts namespaces)", e);
  }
}

ShellProcess::~ShellProcess() {
  if (pidfd_ >= 0) {
    if (started_) {
      // The job may still run if we got here through an exception.
      ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    }
    close_fd(ctl_w_);  // EOF: an idle shell exits
    if (!reaped_) reap(pidfd_);
    close_fd(pidfd_);
  }
  release_stack();
  close_fd(ctl_w_);
  close_fd(report_r_);
  close_fd(out_r_);
  close_fd(err_r_);
}

void ShellProcess::start(const child::Script* script) {
  __atomic_store_n(&shared_.script, script, __ATOMIC_RELEASE);
  char go = 'g';
  ssize_t n;
  do n = ::write(ctl_w_, &go, 1);
  while (n < 0 && errno == EINTR);
  started_ = true;
  close_fd(ctl_w_);
  if (n != 1) throw_errno("starting the container");
}

bool ShellProcess::wait_exec(child::Report& report) {
  size_t got = 0;
  char* p = reinterpret_cast<char*>(&report);
  while (got < sizeof report) {
    ssize_t n = ::read(report_r_, p + got, sizeof report - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close_fd(report_r_);
  if (got == sizeof report) return true;
  if (got != 0) {
    report = child::Report{child::Step::Prepare, EIO, -1};
    return true;
  }
  return false;
}

void ShellProcess::release_stack() {
  if (stack_) ::munmap(stack_, kStackSize);
  stack_ = nullptr;
}

ShellPool::ShellPool(size_t per_kind, std::string staging)
    : per_kind_(per_kind), staging_(std::move(staging)) {
  filler_ = std::thread([this] { fill_loop(); });
}

ShellPool::~ShellPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (filler_.joinable()) filler_.join();
  for (int fd : to_close_) ::close(fd);
  // Ready shells are destroyed (told to exit and reaped) with ready_.
}

std::unique_ptr<ShellProcess> ShellPool::take(bool network_namespace) {
  const int kind = network_namespace;
  if (per_kind_ > 0) {
    std::unique_lock lock(mu_);
    auto& q = ready_[kind];
    wanted_[kind] = true;
    std::unique_ptr<ShellProcess> shell;
    if (!q.empty()) {
      shell = std::move(q.front());
      q.pop_front();
    }
    lock.unlock();
    cv_.notify_all();
    if (shell) return shell;
  }
  return std::make_unique<ShellProcess>(network_namespace, staging_.c_str());
}

void ShellPool::dispose(int fd) {
  if (fd < 0) return;
  {
    std::lock_guard lock(mu_);
    to_close_.push_back(fd);
  }
  cv_.notify_all();
}

void ShellPool::fill_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    int kind = -1;
    cv_.wait(lock, [&] {
      if (stop_ || !to_close_.empty()) return true;
      for (int k : {1, 0})
        if (wanted_[k] && !failed_[k] && ready_[k].size() < per_kind_) {
          kind = k;
          return true;
        }
      return false;
    });
    if (stop_) return;
    if (!to_close_.empty()) {
      std::vector<int> fds;
      fds.swap(to_close_);
      lock.unlock();
      for (int fd : fds) ::close(fd);
      lock.lock();
      continue;
    }
    lock.unlock();
    std::unique_ptr<ShellProcess> shell;
    try {
      shell = std::make_unique<ShellProcess>(kind == 1, staging_.c_str());
    } catch (const std::exception&) {
      // take() will make one itself and report the error with the job.
    }
    lock.lock();
    if (shell)
      ready_[kind].push_back(std::move(shell));
    else
      failed_[kind] = true;
  }
}

}  // namespace mael
