// The shell side of a container. Runs in a CLONE_VM child of a multi-threaded
// process, so it follows the rules of code after vfork: raw system calls only
// (raw_syscall.h), no libc, no allocation, nothing that touches TLS. Compiled
// without sanitizers and stack protector (see CMakeLists.txt).
#include "container/child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/prctl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/raw_syscall.h"

#define CHILD __attribute__((no_sanitize("address", "undefined"), noinline)) static

namespace mael::child {
namespace {

using raw::sys;
constexpr int kMntDetach = 2;  // <sys/mount.h> clashes with <linux/mount.h> in older glibc

[[noreturn]] CHILD void die(int report_fd, Step step, long rc, int index = -1) {
  Report r;
  r.step = step;
  r.err = static_cast<int32_t>(-rc);
  r.index = index;
  sys(SYS_write, report_fd, &r, sizeof r);
  for (;;) sys(SYS_exit_group, 127);
}

// Writes uid_map, setgroups and gid_map; on failure returns the error and
// sets *step to the one that failed.
CHILD long write_maps(const char* uid_map, const char* gid_map, Step* step) {
  long rc;
  *step = Step::UidMap;
  if ((rc = raw::write_text("proc/self/uid_map", uid_map)) < 0) return rc;
  *step = Step::Setgroups;
  if ((rc = raw::write_text("proc/self/setgroups", "deny")) < 0) return rc;
  *step = Step::GidMap;
  return raw::write_text("proc/self/gid_map", gid_map);
}

// "/proc/self/fd/<fd>/<leaf>" into buf.
CHILD void fd_path(char* buf, long fd, const char* leaf) {
  const char* prefix = "proc/self/fd/";  // relative: our cwd is the host's "/"
  char* p = buf;
  while (*prefix) *p++ = *prefix++;
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  while (n > 0) *p++ = digits[--n];
  if (*leaf) *p++ = '/';
  while (*leaf) *p++ = *leaf++;
  *p = 0;
}

CHILD long set_read_only(long mount_fd) {
  struct mount_attr attr;
  attr.attr_set = MOUNT_ATTR_RDONLY;
  attr.attr_clr = 0;
  attr.propagation = 0;
  attr.userns_fd = 0;
  return sys(SYS_mount_setattr, mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
}

// fsopen + options + create + fsmount; returns the detached mount's fd.
CHILD long new_fs(const char* type, const char* const* options, bool read_only) {
  long fs = sys(SYS_fsopen, type, FSOPEN_CLOEXEC);
  if (fs < 0) return fs;
  long rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", type, 0);
  for (const char* const* o = options; o && o[0] && rc >= 0; o += 2)
    rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, o[0], o[1], 0);
  if (rc >= 0) rc = sys(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
  if (rc >= 0) rc = sys(SYS_fsmount, fs, FSMOUNT_CLOEXEC, read_only ? MOUNT_ATTR_RDONLY : 0);
  sys(SYS_close, fs);
  return rc;
}

CHILD long bind_tree(const char* source, bool read_only) {
  long fd = sys(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd >= 0 && read_only) {
    long rc = set_read_only(fd);
    if (rc < 0) {
      sys(SYS_close, fd);
      return rc;
    }
  }
  return fd;
}

// The root: an overlay of the lowers (plus a tmpfs upper if writable), a
// read-only bind of a single lower, or an empty tmpfs.
CHILD long make_root(const Script& s) {
  if (s.n_lowers == 0) return new_fs("tmpfs", nullptr, !s.writable);
  // Overlay needs two lowers without an upper: bind a single read-only one.
  if (s.n_lowers == 1 && !s.writable) return bind_tree(s.lowers[0], true);
  long fs = sys(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fs < 0) return fs;
  // userxattr: inside a user namespace overlay can only read user.overlay.*
  // xattrs (opaque directories); 0/0 character devices are whiteouts either way.
  long rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "userxattr", 0, 0);
  for (int i = 0; i < s.n_lowers && rc >= 0; ++i)
    rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+", s.lowers[i], 0);
  long upper = -1;
  if (rc >= 0 && s.writable) {
    upper = new_fs("tmpfs", nullptr, false);
    rc = upper;
    if (rc >= 0) rc = sys(SYS_mkdirat, upper, "upper", 0755);
    if (rc >= 0) rc = sys(SYS_mkdirat, upper, "work", 0755);
    char path[64];
    if (rc >= 0) {
      fd_path(path, upper, "upper");
      rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", path, 0);
    }
    if (rc >= 0) {
      fd_path(path, upper, "work");
      rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", path, 0);
    }
  }
  if (rc >= 0) rc = sys(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
  if (rc >= 0) rc = sys(SYS_fsmount, fs, FSMOUNT_CLOEXEC, s.writable ? 0 : MOUNT_ATTR_RDONLY);
  if (upper >= 0) sys(SYS_close, upper);
  sys(SYS_close, fs);
  return rc;
}

CHILD long resolve_in_root(long root, const char* path) {
  struct open_how how;
  how.flags = O_PATH | O_CLOEXEC;
  how.mode = 0;
  how.resolve = RESOLVE_IN_ROOT;
  return sys(SYS_openat2, root, path, &how, sizeof how);
}

CHILD long move_fd(long fd, int target) {
  if (fd == target) return sys(SYS_fcntl, fd, F_SETFD, 0);
  return sys(SYS_dup2, fd, target);
}

// What the shell prepared before it got a job.
struct Prepared {
  long host;            // O_PATH fd of the host's "/" (detached)
  long proc;            // a proc mount not attached yet, or -errno
  long sysfs;           // a sysfs mount made for us (Shell::sysfs), or -EBADF
  const char* staging;  // host directory the job's root is attached to before pivot_root
};

// Returns the prepared proc mount for the first proc op, or makes a new one.
CHILD long mount_for(const MountOp& m, Prepared& p) {
  if (m.kind == MountOp::Bind) return bind_tree(m.source, m.read_only);
  if (m.fstype[0] == 'p' && m.fstype[1] == 'r' && p.proc != -EBADF) {  // "proc"
    long fd = p.proc;
    p.proc = -EBADF;  // used: any further one is made now
    return fd;
  }
  if (m.fstype[0] == 's' && m.fstype[1] == 'y' && p.sysfs != -EBADF) {  // "sysfs"
    long fd = p.sysfs;
    p.sysfs = -EBADF;
    return fd;
  }
  return new_fs(m.fstype, m.options, m.read_only);
}

// Binds root/path onto itself read-only.
CHILD long bind_read_only_in_place(long dir, const char* path) {
  long fd = sys(SYS_open_tree, dir, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return fd;
  long rc = set_read_only(fd);
  if (rc >= 0) rc = sys(SYS_move_mount, fd, "", dir, path, MOVE_MOUNT_F_EMPTY_PATH);
  sys(SYS_close, fd);
  return rc;
}

// See Script::protect_proc. target: the proc mount's path in the root.
CHILD long protect_proc(long root, const char* target) {
  long proc = resolve_in_root(root, target);  // now the proc mount's root
  if (proc < 0) return proc;
  long rc = bind_read_only_in_place(proc, "sys");
  if (rc >= 0) rc = bind_read_only_in_place(proc, "sysrq-trigger");
  if (rc == -ENOENT) rc = 0;  // a kernel without CONFIG_MAGIC_SYSRQ
  sys(SYS_close, proc);
  return rc;
}

[[noreturn]] CHILD void run_script(const Script& s, Prepared& p, int report, int in, int out, int err,
                                   bool tty) {
  long rc;
  // Host paths in the script are relative to the host's "/" (our cwd).
  if ((rc = sys(SYS_fchdir, p.host)) < 0) die(report, Step::Prepare, rc);
  if (s.loopback) {
    long sock = sys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) die(report, Step::Loopback, sock);
    struct ifreq ifr;
    for (size_t i = 0; i < sizeof ifr.ifr_name; ++i) ifr.ifr_name[i] = 0;
    ifr.ifr_name[0] = 'l';
    ifr.ifr_name[1] = 'o';
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    if ((rc = sys(SYS_ioctl, sock, SIOCSIFFLAGS, &ifr)) < 0) die(report, Step::Loopback, rc);
    sys(SYS_close, sock);
  }

  long root = make_root(s);
  if (root < 0) die(report, Step::RootFs, root);
  rc = sys(SYS_move_mount, root, "", AT_FDCWD, p.staging, MOVE_MOUNT_F_EMPTY_PATH);
  if (rc < 0) die(report, Step::AttachRoot, rc);

  for (int i = 0; i < s.n_mounts; ++i) {
    const MountOp& m = s.mounts[i];
    long target = resolve_in_root(root, m.target);
    if (target < 0) die(report, Step::MountPoint, target, m.index);
    long fd = mount_for(m, p);
    if (fd < 0) die(report, Step::MountCreate, fd, m.index);
    rc = sys(SYS_move_mount, fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    if (rc < 0) die(report, Step::MountAttach, rc, m.index);
    sys(SYS_close, fd);
    sys(SYS_close, target);
    if (s.protect_proc && m.kind == MountOp::NewFs && m.fstype[0] == 'p' && m.fstype[1] == 'r' &&
        (rc = protect_proc(root, m.target)) < 0)
      die(report, Step::MountAttach, rc, m.index);
  }

  // The old root lands on top of the new one; detaching it leaves the job's.
  if ((rc = sys(SYS_fchdir, root)) < 0) die(report, Step::EnterRoot, rc);
  if ((rc = sys(SYS_pivot_root, ".", ".")) < 0) die(report, Step::EnterRoot, rc);
  if ((rc = sys(SYS_umount2, ".", kMntDetach)) < 0) die(report, Step::EnterRoot, rc);
  if ((rc = sys(SYS_chdir, s.working_directory)) < 0) die(report, Step::WorkingDirectory, rc);

  if ((rc = move_fd(in, 0)) < 0 || (rc = move_fd(out, 1)) < 0 || (rc = move_fd(err, 2)) < 0)
    die(report, Step::Stdio, rc);
  // We lead a new session: the terminal becomes its controlling terminal and
  // our process group its foreground group.
  if (tty && (rc = sys(SYS_ioctl, 0, TIOCSCTTY, 0)) < 0) die(report, Step::Terminal, rc);
  // Our other fds (host, root, ...) are all close-on-exec.
  if (!s.search) die(report, Step::Exec, sys(SYS_execve, s.candidates[0], s.argv, s.envp));
  for (int i = 0; i < s.n_candidates; ++i) {
    if (sys(SYS_access, s.candidates[i], X_OK) < 0) continue;
    die(report, Step::Exec, sys(SYS_execve, s.candidates[i], s.argv, s.envp), i);
  }
  die(report, Step::NotFound, -ENOENT);
}

// Everything that does not depend on the job's script: the uid/gid maps, a
// proc instance (its namespaces are ours already). sysfs is
// made only for jobs that ask for it: an unused detached mount would be
// dissolved when execve closes its fd, which waits for an RCU grace period on
// the job's path.
CHILD void prepare(const Shell& shell, Prepared& p, int report) {
  p.staging = shell.staging;
  p.host = sys(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (p.host < 0) die(report, Step::Prepare, p.host);
  long rc = sys(SYS_fchdir, p.host);
  if (rc < 0) die(report, Step::Prepare, rc);
  Step step;
  if ((rc = write_maps(shell.uid_map, shell.gid_map, &step)) < 0) die(report, step, rc);
  p.proc = new_fs("proc", nullptr, false);
}

}  // namespace

__attribute__((no_sanitize("address", "undefined"))) int shell_main(void* arg) {
  Shell* shell = static_cast<Shell*>(arg);
  // Keep only our five fds, moved above all others (so none is 0-2) and
  // close-on-exec; anything else (other jobs' pipes copied into our fd table
  // by clone) is closed now so that it cannot hold their pipes open.
  // With a terminal, it is the job's stdin, stdout and stderr (and the pipes
  // are closed: the parent sees their EOF at once).
  const bool tty = shell->tty >= 0;
  // The sysfs mount, if any, is kept too (sixth).
  int own[6] = {shell->ctl_r,
                shell->report_w,
                tty ? shell->tty : shell->in_r,
                tty ? shell->tty : shell->out_w,
                tty ? shell->tty : shell->err_w,
                shell->sysfs};
  const int n_own = shell->sysfs >= 0 ? 6 : 5;
  int top = 0;
  for (int k = 0; k < n_own; ++k) top = own[k] > top ? own[k] : top;
  int fds[6];
  for (int k = 0; k < n_own; ++k) {
    long fd = sys(SYS_fcntl, own[k], F_DUPFD_CLOEXEC, top + 1);
    if (fd < 0) {
      sys(SYS_write, shell->report_w, "", 0);
      for (;;) sys(SYS_exit_group, 126);
    }
    fds[k] = static_cast<int>(fd);
  }
  // F_DUPFD picks the lowest free fd above top each time, so fds[] ascends.
  sys(SYS_close_range, 0, fds[0] - 1, 0);
  for (int k = 0; k + 1 < n_own; ++k)
    if (fds[k + 1] > fds[k] + 1) sys(SYS_close_range, fds[k] + 1, fds[k + 1] - 1, 0);
  sys(SYS_close_range, fds[n_own - 1] + 1, ~0U, 0);
  const int ctl = fds[0], report = fds[1];

  // Default dispositions and an empty mask: ignored signals and the mask
  // would otherwise survive execve.
  unsigned long action[4] = {0, 0, 0, 0};  // SIG_DFL, no flags, no restorer, empty mask
  for (int sig = 1; sig <= 64; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) sys(SYS_rt_sigaction, sig, action, 0, 8);
  unsigned long empty_mask = 0;
  sys(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, 0, 8);
  long rc = sys(SYS_setsid);
  if (rc < 0) die(report, Step::Prepare, rc);
  // The job must not outlive the thread that made it (the runtime's).
  sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  Prepared prepared;
  prepared.sysfs = n_own == 6 ? fds[5] : -EBADF;
  prepare(*shell, prepared, report);

  char go = 0;
  do rc = sys(SYS_read, ctl, &go, 1);
  while (rc == -EINTR);
  if (rc != 1)
    for (;;) sys(SYS_exit_group, 0);  // not needed after all
  sys(SYS_close, ctl);
  const Script* script = __atomic_load_n(&shell->script, __ATOMIC_ACQUIRE);
  run_script(*script, prepared, report, fds[2], fds[3], fds[4], tty);
}

}  // namespace mael::child
