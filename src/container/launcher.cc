// See launcher.h. Compiled without sanitizers and stack protector, like
// child.cc: these run in CLONE_VM children of a multi-threaded process.
#include "container/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include "container/raw_syscall.h"

#define CHILD __attribute__((no_sanitize("address", "undefined"), noinline)) static

namespace mael::launcher {
namespace {

using raw::sys;

CHILD long open_ns(const char* path) {
  return sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
}

// A detached sysfs mount of the current network namespace.
CHILD long make_sysfs() {
  long fs = sys(SYS_fsopen, "sysfs", FSOPEN_CLOEXEC);
  if (fs < 0) return fs;
  long rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", "sysfs", 0);
  if (rc >= 0) rc = sys(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
  if (rc >= 0) rc = sys(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
  sys(SYS_close, fs);
  return rc;
}

}  // namespace

#define FAIL_IF(expr, name) \
  do {                      \
    long rc_ = (expr);      \
    if (rc_ < 0) {          \
      out.result = rc_;     \
      out.step = name;      \
      return 1;             \
    }                       \
  } while (0)

__attribute__((no_sanitize("address", "undefined"))) int holder_main(void* arg) {
  const int* pipe = static_cast<const int*>(arg);
  sys(SYS_close, pipe[1]);  // our copy: EOF comes when the parent closes its own
  char c;
  while (sys(SYS_read, pipe[0], &c, 1) == -EINTR) {
  }
  for (;;) sys(SYS_exit_group, 0);
}

__attribute__((no_sanitize("address", "undefined"))) int netns_main(void* arg) {
  NewNetns& out = *static_cast<NewNetns*>(arg);
  FAIL_IF(sys(SYS_setns, out.user_ns, CLONE_NEWUSER), "setns(user)");
  FAIL_IF(sys(SYS_unshare, CLONE_NEWNET), "unshare(CLONE_NEWNET)");
  long net = open_ns("/proc/thread-self/ns/net");
  FAIL_IF(net, "opening the network namespace");
  out.net_ns = static_cast<int>(net);
  return 0;
}

__attribute__((no_sanitize("address", "undefined"))) int launch_main(void* arg) {
  Launch& out = *static_cast<Launch*>(arg);
  FAIL_IF(sys(SYS_setns, out.user_ns, CLONE_NEWUSER), "setns(user)");
  FAIL_IF(sys(SYS_setns, out.mount_ns, CLONE_NEWNS), "setns(mnt)");
  FAIL_IF(sys(SYS_setns, out.net_ns, CLONE_NEWNET), "setns(net)");
  if (out.sysfs) {
    long fd = make_sysfs();
    FAIL_IF(fd, "mounting sysfs");
    out.shell->sysfs = static_cast<int>(fd);
  }
  // glibc's clone is a thin assembly wrapper: it only touches errno (the
  // caller's, which waits for us) when it fails.
  long pid =
      ::clone(child::shell_main, out.shell_stack_top, out.clone_flags | CLONE_PARENT, out.shell, out.pidfd);
  if (pid < 0) {
    out.result = -errno;
    out.step = "clone";
    return 1;
  }
  out.result = pid;
  out.maps_result = child::write_id_maps(pid, *out.maps, &out.maps_step);
  return 0;
}

#undef FAIL_IF

}  // namespace mael::launcher
