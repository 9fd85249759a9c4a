// Runtime::check_support: try, in a throwaway child, what every job needs (a
// new user namespace with a uid map, and a mount inside it) and turn a refusal
// into one line naming the fix.
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "base/error.h"
#include "container/raw_syscall.h"
#include "container/runtime.h"

namespace mael {
namespace {

struct Probe {
  char uid_map[64];
  char gid_map[64];
};

// Exit status: 0 ok, 1 uid_map, 2 gid_map, 3 mount; the errno goes to a pipe.
__attribute__((no_sanitize("address", "undefined"))) int probe_main(void* arg) {
  using raw::sys;
  auto* p = static_cast<Probe*>(arg);
  if (raw::write_text("/proc/self/uid_map", p->uid_map) < 0) sys(SYS_exit_group, 1);
  if (raw::write_text("/proc/self/setgroups", "deny") < 0) sys(SYS_exit_group, 2);
  if (raw::write_text("/proc/self/gid_map", p->gid_map) < 0) sys(SYS_exit_group, 2);
  long fs = sys(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
  if (fs < 0 || sys(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0) < 0 ||
      sys(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0) < 0)
    sys(SYS_exit_group, 3);
  sys(SYS_exit_group, 0);
  return 0;
}

constexpr const char* kFix =
    "enable unprivileged user namespaces: `sysctl -w user.max_user_namespaces=15000` "
    "(and `sysctl -w kernel.unprivileged_userns_clone=1` on kernels that have it; on Ubuntu "
    "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile allowing userns)";

}  // namespace

void Runtime::check_support() {
  Probe probe{};
  snprintf(probe.uid_map, sizeof probe.uid_map, "0 %u 1\n", ::geteuid());
  snprintf(probe.gid_map, sizeof probe.gid_map, "0 %u 1\n", ::getegid());
  constexpr size_t kStack = 64 * 1024;
  void* stack =
      ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) throw_errno("mmap");
  int pidfd = -1;
  int pid =
      ::clone(probe_main, static_cast<char*>(stack) + kStack,
              CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, &probe, &pidfd);
  int err = errno;
  if (pid < 0) {
    ::munmap(stack, kStack);
    throw UserError(std::string("this kernel does not let ") + (::geteuid() == 0 ? "root" : "this user") +
                    " create user namespaces (clone(CLONE_NEWUSER): " + std::strerror(err) + "); " + kFix);
  }
  siginfo_t info{};
  while (::waitid(P_PIDFD, pidfd, &info, WEXITED) < 0 && errno == EINTR) {
  }
  ::close(pidfd);
  ::munmap(stack, kStack);
  if (info.si_code == CLD_EXITED && info.si_status == 0) return;
  std::string what = info.si_code != CLD_EXITED ? "the probe process died"
                     : info.si_status == 3      ? "mounting inside a new user namespace is denied"
                                                : "writing a user namespace's uid/gid map is denied";
  throw UserError("containers cannot be created: " + what + " (AppArmor or a seccomp policy?); " + kFix);
}

}  // namespace mael
