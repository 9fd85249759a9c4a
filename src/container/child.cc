// The shell side of a container (see child.h). Runs in a CLONE_VM child of a
// multi-threaded process, so it follows the rules of code after vfork: raw
// system calls only (raw_syscall.h), no libc, no allocation, nothing that
// touches TLS. Compiled without sanitizers and stack protector (see
// CMakeLists.txt). Its only work: joining the container's cgroup, fixed
// descriptors, clean signal state, a session, the parent-death signal, then
// execute the init.
#include "container/child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "container/raw_syscall.h"

namespace mael::child {
namespace {

using raw::sys;

[[noreturn]] __attribute__((no_sanitize("address", "undefined"), noinline)) void die(int report_fd, Step step,
                                                                                      long rc) {
  Report r;
  r.step = step;
  r.err = static_cast<int32_t>(-rc);
  r.index = -1;
  sys(SYS_write, report_fd, &r, sizeof r);
  for (;;) sys(SYS_exit_group, 127);
}

}  // namespace

__attribute__((no_sanitize("address", "undefined"))) int shell_main(void* arg) {
  Shell* shell = static_cast<Shell*>(arg);
  // Into the container's cgroup first: all that follows is the container's.
  if (shell->cgroup >= 0) {
    long rc = sys(SYS_write, shell->cgroup, "0", 1);
    if (rc != 1) die(shell->report_w, Step::Cgroup, rc < 0 ? rc : -EIO);
  }
  const bool tty = shell->tty >= 0;
  // Our descriptors, in the order of their fixed numbers (child.h), first moved
  // above every other so that placing them cannot overwrite one another.
  const int own[] = {shell->ctl_r,
                     shell->report_w,
                     tty ? shell->tty : shell->in_r,
                     tty ? shell->tty : shell->out_w,
                     tty ? shell->tty : shell->err_w,
                     shell->sysfs,
                     shell->init};
  constexpr int kOwn = sizeof own / sizeof own[0];
  int top = kFirstFreeFd;
  for (int k = 0; k < kOwn; ++k) top = own[k] > top ? own[k] : top;
  int moved[kOwn];
  for (int k = 0; k < kOwn; ++k) {
    moved[k] = -1;
    if (own[k] < 0) continue;
    long fd = sys(SYS_fcntl, own[k], F_DUPFD_CLOEXEC, top + 1);
    if (fd < 0) {
      sys(SYS_write, shell->report_w, "", 0);
      for (;;) sys(SYS_exit_group, 126);
    }
    moved[k] = static_cast<int>(fd);
  }
  const int report = moved[1];
  // Fixed numbers, kept across execve; the init program goes last, close-on-exec.
  for (int k = 0; k + 1 < kOwn; ++k)
    if (moved[k] >= 0 && sys(SYS_dup3, moved[k], kCtlFd + k, 0) < 0) die(report, Step::Prepare, -EBADF);
  const int init = static_cast<int>(sys(SYS_fcntl, moved[kOwn - 1], F_DUPFD_CLOEXEC, kFirstFreeFd));
  if (init < 0) die(report, Step::Prepare, init);
  // Anything else (other jobs' pipes copied into our table by clone) goes now.
  sys(SYS_close_range, 0, kCtlFd - 1, 0);
  if (shell->sysfs < 0) sys(SYS_close, kSysfsFd);
  sys(SYS_close_range, init + 1, ~0U, 0);
  sys(SYS_close_range, kFirstFreeFd, init - 1, 0);

  // Default dispositions and an empty mask: ignored signals and the mask
  // would otherwise survive execve.
  unsigned long action[4] = {0, 0, 0, 0};  // SIG_DFL, no flags, no restorer, empty mask
  for (int sig = 1; sig <= 64; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) sys(SYS_rt_sigaction, sig, action, 0, 8);
  unsigned long empty_mask = 0;
  sys(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, 0, 8);
  long rc = sys(SYS_setsid);
  if (rc < 0) die(kReportFd, Step::Prepare, rc);
  // The container must not outlive the thread that made it (the runtime's).
  // The init keeps this across execve and never changes its credentials, and
  // the job cannot reach it: when the init dies, every process of its PID
  // namespace dies with it.
  sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);

  // The init needs our maps (it must be root of our user namespace to keep its
  // capabilities across execve): the parent writes them, then sends one byte.
  char go = 0;
  do rc = sys(SYS_read, kCtlFd, &go, 1);
  while (rc == -EINTR);
  if (rc != 1)
    for (;;) sys(SYS_exit_group, 0);  // not needed after all
  rc = sys(SYS_execveat, init, "", shell->init_argv, shell->init_envp, AT_EMPTY_PATH);
  die(kReportFd, Step::Prepare, rc);
}

}  // namespace mael::child
