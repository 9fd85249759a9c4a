// The container's init: PID 1 of the job's PID namespace (see child.h).
//
// A freestanding static program (no libc: raw system calls only, see
// CMakeLists.txt), executed by the shell from a sealed memfd, so that it has
// an address space of its own (the shell shares the runtime's) and starts in
// well under a millisecond. It is not dumpable and the job has no capability
// in its user namespace, so the job can neither ptrace it nor read its memory,
// and it keeps every signal at its default, so the job cannot signal it (the
// kernel drops signals to a namespace's init that has no handler for them).
//
//   1. read what to prepare (child::Prep), make a proc instance for the PID
//      namespace and fork the job's process, PID 2 (see run_job), which,
//      while no job is known, makes the job's user namespace (a child of ours,
//      mapping the job's ids onto its host id), with a network namespace it
//      owns if asked; then it reads the job script (script_blob.h) from the
//      control socket, builds the job's root and mounts with our capabilities,
//      pivot_root's into it, takes the job's host id and joins the job's user
//      namespace, where it has no capability over our mounts (it can neither
//      unmount, remount nor mount anything; a mount namespace it makes for
//      itself gets them locked, mount_namespaces(7)), and execs the program;
//   2. reap every process; when the job ends, report how and exit, which ends
//      every other process of the namespace.
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/prctl.h>
#include <sys/resource.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/child.h"
#include "container/id_maps.h"
#include "container/raw_syscall.h"
#include "container/script_blob.h"

// The compiler may emit calls to these for copies and zeroing.
extern "C" {
void* memcpy(void* dst, const void* src, size_t n) {
  auto* d = static_cast<char*>(dst);
  auto* s = static_cast<const char*>(src);
  while (n--) *d++ = *s++;
  return dst;
}
void* memmove(void* dst, const void* src, size_t n) {
  auto* d = static_cast<char*>(dst);
  auto* s = static_cast<const char*>(src);
  if (d < s)
    while (n--) *d++ = *s++;
  else
    while (n--) d[n] = s[n];
  return dst;
}
void* memset(void* dst, int c, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  while (n--) *d++ = static_cast<unsigned char>(c);
  return dst;
}
}

// clone(flags | the new stack) running fn(arg) on that stack, in a child that
// shares our memory when flags has CLONE_VM: -errno, the child's pid, and in the
// child never returns (fn's result is its exit code). See the assembly below.
extern "C" long mael_clone_fn(long flags, void* stack_top, int (*fn)(void*), void* arg);

namespace mael::init {
namespace {

using child::MountOp;
using child::Report;
using child::Script;
using child::Step;
using raw::sys;

constexpr int kMntDetach = 2;  // <sys/mount.h> clashes with <linux/mount.h>

[[noreturn]] void exit_now(int code) {
  for (;;) sys(SYS_exit_group, code);
}

void report(Step step, long err, int index) {
  Report r;
  r.step = step;
  r.err = static_cast<int32_t>(err);
  r.index = index;
  sys(SYS_write, child::kReportFd, &r, sizeof r);
}

[[noreturn]] void die(Step step, long rc, int index = -1) {
  report(step, -rc, index);
  exit_now(127);
}

// "proc/self/fd/<fd>/<leaf>" into buf (relative: our cwd is the host's "/").
void fd_path(char* buf, long fd, const char* leaf) {
  char* p = raw::put_decimal(raw::put_text(buf, "proc/self/fd/"), static_cast<unsigned long>(fd));
  *p++ = '/';
  *raw::put_text(p, leaf) = 0;
}

long set_read_only(long mount_fd) {
  struct mount_attr attr;
  attr.attr_set = MOUNT_ATTR_RDONLY;
  attr.attr_clr = 0;
  attr.propagation = 0;
  attr.userns_fd = 0;
  return sys(SYS_mount_setattr, mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
}

// fsopen + options + create + fsmount; returns the detached mount's fd.
long new_fs(const char* type, const char* const* options, bool read_only) {
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

long bind_tree(const char* source, bool read_only) {
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

bool is(const char* s, const char* name) {
  while (*s && *s == *name) ++s, ++name;
  return *s == *name;
}

// The root: an overlay of the lowers (plus a tmpfs upper if writable), a
// read-only bind of a single lower, or an empty tmpfs.
long make_root(const Script& s, const child::Prep& prep) {
  if (s.n_lowers == 0) return new_fs("tmpfs", s.tmpfs_options, !s.writable);
  // Overlay needs two lowers without an upper: bind a single read-only one
  // (the job cannot make it writable: it will be locked, see run_job).
  if (s.n_lowers == 1 && !s.writable) return bind_tree(s.lowers[0], true);
  long fs = sys(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fs < 0) return fs;
  // userxattr: inside a user namespace overlay can only read user.overlay.*
  // xattrs (opaque directories); 0/0 character devices are whiteouts either way.
  long rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "userxattr", 0, 0);
  for (int i = 0; i < s.n_lowers && rc >= 0; ++i)
    rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+", s.lowers[i], 0);
  long upper = -1;
  if (rc >= 0 && s.writable && s.capture_upper) {
    rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", s.capture_upper, 0);
    if (rc >= 0) rc = sys(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", s.capture_work, 0);
  } else if (rc >= 0 && s.writable) {
    upper = new_fs("tmpfs", s.tmpfs_options, false);
    rc = upper;
    if (rc >= 0) rc = sys(SYS_mkdirat, upper, "upper", 0755);
    if (rc >= 0) rc = sys(SYS_mkdirat, upper, "work", 0755);
    // The root directory is the upper's: the job's own, as the layers' files are.
    if (rc >= 0) rc = sys(SYS_fchownat, upper, "upper", prep.id_uid, prep.id_gid, AT_SYMLINK_NOFOLLOW);
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

long resolve_in_root(long root, const char* path) {
  struct open_how how;
  how.flags = O_PATH | O_CLOEXEC;
  how.mode = 0;
  how.resolve = RESOLVE_IN_ROOT;
  return sys(SYS_openat2, root, path, &how, sizeof how);
}

// What the init prepared before it got a job.
struct Prepared {
  child::Prep prep;
  long host = -1;     // O_PATH fd of the host's "/"
  long proc = -1;     // a proc mount of our PID namespace (detached until a job mounts it), or -errno
  long sysfs = -1;    // a sysfs mount made for us (child::kSysfsFd), or -EBADF
  long user_ns = -1;  // the job's user namespace (see prepare_job_namespace)
  bool proc_used = false;
};

// The mount for op m: the prepared proc or sysfs instance for the first one of
// its kind, else a new one.
long mount_for(const MountOp& m, Prepared& p, const Script& s) {
  if (m.kind == MountOp::Bind) return bind_tree(m.source, m.read_only);
  if (is(m.fstype, "proc") && !p.proc_used && p.proc >= 0) {
    p.proc_used = true;  // (p.proc is kept for the job's maps)
    return sys(SYS_fcntl, p.proc, F_DUPFD_CLOEXEC, 0);
  }
  if (is(m.fstype, "sysfs") && p.sysfs >= 0) {
    long fd = p.sysfs;
    p.sysfs = -EBADF;
    return fd;
  }
  // Every tmpfs gets the size limit.
  return new_fs(m.fstype, is(m.fstype, "tmpfs") && !m.options ? s.tmpfs_options : m.options, m.read_only);
}

// Children that share our memory (CLONE_VM) run on these stacks: the job's
// process until it execs (no address space is copied for it), and the helper
// that makes the job's user namespace.
alignas(16) char job_stack[64 * 1024];
alignas(16) char helper_stack[16 * 1024];

// Reads exactly n bytes from fd; false at EOF or error.
bool read_all(int fd, void* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    long r = sys(SYS_read, fd, static_cast<char*>(buf) + got, n - got);
    if (r == -EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// Reads a job script ([size][blob]) from fd into memory of our own; nullptr
// at EOF before its size.
const Script* read_script(int fd) {
  uint64_t size = 0;
  if (!read_all(fd, &size, sizeof size)) return nullptr;
  if (size < sizeof(Script) || size > child::kMaxScriptSize) die(Step::Script, -EINVAL);
  long mem = sys(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem < 0) die(Step::Script, mem);
  char* base = reinterpret_cast<char*>(mem);
  if (!read_all(fd, base, size)) die(Step::Script, -EPIPE);
  const Script* script = child::relocate_script(base, size);
  if (!script) die(Step::Script, -EINVAL);
  return script;
}

// The job's user namespace maps its ids onto its host id; setgroups denied.
// proc_dir: the proc directory of a process in it, under our proc instance.
void write_job_maps(const Prepared& p, const char* proc_dir) {
  char uid_map[40], gid_map[40];
  child::map_line(uid_map, p.prep.uid, p.prep.id_uid);
  child::map_line(gid_map, p.prep.gid, p.prep.id_gid);
  Step step;
  if (long rc = child::write_id_maps(p.proc, proc_dir, child::IdMaps{uid_map, gid_map, true}, &step); rc < 0)
    die(step, rc);
}

// The userns helper: waits until the job's process is done with it and kills
// it (it shares our memory and has nothing to clean up).
int helper_main(void*) {
  for (;;) sys(SYS_pause);
}

// In the job's process (PID 2), while no job is known: the job's user
// namespace, a child of ours made by a helper cloned into it (sharing our
// memory), with a network namespace it owns if asked; we write its maps (the
// job's ids onto its host id: we are root of the init's user namespace
// still), keep a descriptor of it and join its network namespace, where the
// job's loopback and sysfs are set up.
void prepare_job_namespace(Prepared& p) {
  if (p.proc < 0) die(Step::Prepare, p.proc);
  long rc;
  long pid = mael_clone_fn(CLONE_VM | CLONE_NEWUSER | (p.prep.own_network ? CLONE_NEWNET : 0) | SIGCHLD,
                           helper_stack + sizeof helper_stack, helper_main, nullptr);
  if (pid < 0) die(Step::JobNamespaces, pid);
  char dir[32], path[48];
  char* leaf = raw::put_decimal(dir, static_cast<unsigned long>(pid));
  *leaf++ = '/';
  *leaf = 0;
  write_job_maps(p, dir);
  *raw::put_text(raw::put_text(path, dir), "ns/user") = 0;
  p.user_ns = sys(SYS_openat, p.proc, path, O_RDONLY | O_CLOEXEC);
  if (p.user_ns < 0) die(Step::JobNamespaces, p.user_ns);
  if (p.prep.own_network) {
    *raw::put_text(raw::put_text(path, dir), "ns/net") = 0;
    long net = sys(SYS_openat, p.proc, path, O_RDONLY | O_CLOEXEC);
    if (net < 0) die(Step::JobNamespaces, net);
    if ((rc = sys(SYS_setns, net, CLONE_NEWNET)) < 0) die(Step::JobNamespaces, rc);
    sys(SYS_close, net);
  }
  sys(SYS_kill, pid, SIGKILL);  // done with the helper
  siginfo_t info;
  while (sys(SYS_waitid, P_PID, pid, &info, WEXITED, 0) == -EINTR) {
  }
}

// Builds the job's file system and enters it; the job's mounts are ours
// (the init's user namespace) until the job takes a namespace of its own.
void build_root(const Script& s, Prepared& p) {
  long rc;
  // Host paths in the script are relative to the host's "/" (our cwd).
  if ((rc = sys(SYS_fchdir, p.host)) < 0) die(Step::Prepare, rc);
  if (s.loopback) {
    long sock = sys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) die(Step::Loopback, sock);
    struct ifreq ifr;
    for (size_t i = 0; i < sizeof ifr.ifr_name; ++i) ifr.ifr_name[i] = 0;
    ifr.ifr_name[0] = 'l';
    ifr.ifr_name[1] = 'o';
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    if ((rc = sys(SYS_ioctl, sock, SIOCSIFFLAGS, &ifr)) < 0) die(Step::Loopback, rc);
    sys(SYS_close, sock);
  }

  long root = make_root(s, p.prep);
  if (root < 0) die(Step::RootFs, root);
  rc = sys(SYS_move_mount, root, "", AT_FDCWD, s.staging, MOVE_MOUNT_F_EMPTY_PATH);
  if (rc < 0) die(Step::AttachRoot, rc);

  for (int i = 0; i < s.n_mounts; ++i) {
    const MountOp& m = s.mounts[i];
    long target = resolve_in_root(root, m.target);
    if (target < 0) die(Step::MountPoint, target, m.index);
    long fd = mount_for(m, p, s);
    if (fd < 0) die(Step::MountCreate, fd, m.index);
    rc = sys(SYS_move_mount, fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    if (rc < 0) die(Step::MountAttach, rc, m.index);
    sys(SYS_close, fd);
    sys(SYS_close, target);
  }

  // The old root lands on top of the new one; detaching it leaves the job's.
  if ((rc = sys(SYS_fchdir, root)) < 0) die(Step::EnterRoot, rc);
  if ((rc = sys(SYS_pivot_root, ".", ".")) < 0) die(Step::EnterRoot, rc);
  if ((rc = sys(SYS_umount2, ".", kMntDetach)) < 0) die(Step::EnterRoot, rc);
  sys(SYS_close, root);
}

// The job's process, forked by the init once it has prepared: reads the
// script from the control socket, builds the job's file system (with our
// capabilities, in our user namespace), then takes the job's host id and
// user namespace, where it has no capability over our mounts, and execs the
// program. Never returns.
[[noreturn]] void run_job(Prepared& p);
int job_main(void* p) { run_job(*static_cast<Prepared*>(p)); }

void set_process_limit(uint64_t max_processes) {
  if (max_processes == 0) return;
  struct rlimit64 {
    uint64_t cur, max;
  } limit{max_processes, max_processes};
  if (long rc = sys(SYS_prlimit64, 0, RLIMIT_NPROC, &limit, nullptr); rc < 0) die(Step::Limits, rc);
}

// Makes the job's user namespace now (our memory's "not dumpable" shared with
// the init is why the maps need care) and enters it: the job's ids map onto
// its host id, which the process has taken first.
void enter_new_user_namespace(const Prepared& p, uint64_t max_processes) {
  long rc;
  const bool other_id = p.prep.id_uid != 0;
  if (other_id) {
    if ((rc = sys(SYS_setgroups, 0, nullptr)) < 0) die(Step::JobIds, rc);
    if ((rc = sys(SYS_setresgid, p.prep.id_gid, p.prep.id_gid, p.prep.id_gid)) < 0) die(Step::JobIds, rc);
    if ((rc = sys(SYS_setresuid, p.prep.id_uid, p.prep.id_uid, p.prep.id_uid)) < 0) die(Step::JobIds, rc);
  }
  // Before the namespace: it takes the limit as its own bound too.
  set_process_limit(max_processes);
  if ((rc = sys(SYS_unshare, CLONE_NEWUSER)) < 0) die(Step::JobNamespaces, rc);
  // Our /proc files belong to the init's user while not dumpable; with
  // another host id than the init's (root's), making them ours opens nothing
  // of the init to anyone.
  if (other_id) sys(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
  write_job_maps(p, "self/");
  sys(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// Joins the job's user namespace made ahead (an own network namespace's
// owner: see prepare_job_namespace) and takes the job's ids there, which are
// its host id.
void join_user_namespace(const Prepared& p, uint64_t max_processes) {
  long rc;
  // No supplementary group of ours goes with the job (setgroups is denied in
  // its user namespace).
  if (p.prep.id_uid != 0 && (rc = sys(SYS_setgroups, 0, nullptr)) < 0) die(Step::JobIds, rc);
  if ((rc = sys(SYS_setns, p.user_ns, CLONE_NEWUSER)) < 0) die(Step::JobNamespaces, rc);
  if ((rc = sys(SYS_setresgid, p.prep.gid, p.prep.gid, p.prep.gid)) < 0) die(Step::JobIds, rc);
  if ((rc = sys(SYS_setresuid, p.prep.uid, p.prep.uid, p.prep.uid)) < 0) die(Step::JobIds, rc);
  // Until execve we share the init's memory, whose "not dumpable" a change of
  // ids may have reset.
  sys(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
  set_process_limit(max_processes);
}

[[noreturn]] void run_job(Prepared& p) {
  long rc;
  if ((rc = sys(SYS_setsid)) < 0) die(Step::Prepare, rc);
  // A network namespace of the job's own must exist before its root (for its
  // loopback and sysfs), and belong to the job's user namespace: that one is
  // made now. Otherwise the user namespace is made once the root is built.
  if (p.prep.own_network) prepare_job_namespace(p);
  const Script* sp = read_script(child::kCtlFd);
  if (!sp) exit_now(0);  // no job came
  const Script& s = *sp;
  build_root(s, p);
  if (s.terminal && (rc = sys(SYS_ioctl, child::kStdinFd, TIOCSCTTY, 0)) < 0) die(Step::Terminal, rc);
  // The job stays in our mount namespace, which belongs to our user
  // namespace, where it has no capability: it can neither unmount, remount nor
  // mount anything there. A mount namespace it makes for itself receives our
  // mounts locked (mount_namespaces(7)).
  if (p.prep.own_network)
    join_user_namespace(p, s.max_processes);
  else
    enter_new_user_namespace(p, s.max_processes);
  if ((rc = sys(SYS_chdir, s.working_directory)) < 0) die(Step::WorkingDirectory, rc);
  for (int k = 0; k < 3; ++k)
    if ((rc = sys(SYS_dup3, child::kStdinFd + k, k, 0)) < 0) die(Step::Stdio, rc);
  // Every other fd of ours is close-on-exec (see main).
  if (!s.search) die(Step::Exec, sys(SYS_execve, s.candidates[0], s.argv, s.envp));
  for (int i = 0; i < s.n_candidates; ++i) {
    if (sys(SYS_access, s.candidates[i], X_OK) < 0) continue;
    die(Step::Exec, sys(SYS_execve, s.candidates[i], s.argv, s.envp), i);
  }
  die(Step::NotFound, -ENOENT);
}

[[noreturn]] void main() {
  // Nothing of ours may be read or traced by the job (it runs as our uid when
  // the tools do not run as root).
  sys(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
  sys(SYS_prctl, PR_SET_NAME, "maelstrom-init", 0, 0, 0);
  sys(SYS_close_range, child::kCtlFd, ~0U, CLOSE_RANGE_CLOEXEC);

  Prepared p;
  if (!read_all(child::kCtlFd, &p.prep, sizeof p.prep)) exit_now(0);  // not needed after all
  p.host = sys(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (p.host < 0) die(Step::Prepare, p.host);
  // Our cwd was the runtime's: the root instead, which pivot_root moves.
  if (long rc = sys(SYS_fchdir, p.host); rc < 0) die(Step::Prepare, rc);
  p.proc = new_fs("proc", nullptr, false);
  p.sysfs = sys(SYS_fcntl, child::kSysfsFd, F_GETFD) >= 0 ? child::kSysfsFd : -EBADF;

  long job = mael_clone_fn(CLONE_VM | SIGCHLD, job_stack + sizeof job_stack, job_main, &p);
  if (job < 0) die(Step::Fork, job);
  // All of these are the job's process's now: the parent sees EOF on the
  // job's output when every process that has it is gone.
  for (int fd = child::kCtlFd + 0; fd <= child::kSysfsFd; ++fd)
    if (fd != child::kReportFd) sys(SYS_close, fd);
  sys(SYS_close, p.host);
  if (p.proc >= 0) sys(SYS_close, p.proc);

  for (;;) {
    siginfo_t info;
    info.si_pid = 0;
    long rc = sys(SYS_waitid, P_ALL, 0, &info, WEXITED, 0);
    if (rc == -EINTR) continue;
    if (rc < 0) die(Step::Fork, rc);  // no child left: cannot happen before the job's end
    if (info.si_pid == job) {
      report(Step::Ended, info.si_code, info.si_status);
      exit_now(0);
    }
  }
}

}  // namespace
}  // namespace mael::init

// mael_clone_fn(flags, stack_top, fn, arg): fn and arg ride on the new stack
// (16-byte aligned), the child pops them and calls fn(arg), then exits with
// its result.
#if defined(__x86_64__)
__asm__(
    ".globl mael_clone_fn\n"
    "mael_clone_fn:\n"
    "  sub $16, %rsi\n"
    "  mov %rdx, 0(%rsi)\n"
    "  mov %rcx, 8(%rsi)\n"
    "  mov $56, %eax\n"  // SYS_clone(flags, newsp, parent_tid, child_tid, tls)
    "  xor %edx, %edx\n"
    "  xor %r10d, %r10d\n"
    "  xor %r8d, %r8d\n"
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "  pop %rax\n"
    "  pop %rdi\n"
    "  xor %rbp, %rbp\n"
    "  call *%rax\n"
    "  mov %eax, %edi\n"
    "  mov $60, %eax\n"  // SYS_exit
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  ret\n");
#elif defined(__aarch64__)
__asm__(
    ".globl mael_clone_fn\n"
    "mael_clone_fn:\n"
    "  stp x2, x3, [x1, #-16]!\n"
    "  mov x8, #220\n"  // SYS_clone(flags, newsp, parent_tid, tls, child_tid)
    "  mov x2, #0\n"
    "  mov x3, #0\n"
    "  mov x4, #0\n"
    "  svc #0\n"
    "  cbnz x0, 1f\n"
    "  ldp x2, x0, [sp], #16\n"
    "  mov x29, #0\n"
    "  blr x2\n"
    "  mov x8, #93\n"  // SYS_exit
    "  svc #0\n"
    "1:\n"
    "  ret\n");
#endif

// The entry point: no libc, so no crt; align the stack and call main.
#if defined(__x86_64__)
__asm__(
    ".globl _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  and $-16, %rsp\n"
    "  call mael_init_main\n"
    "  hlt\n");
#elif defined(__aarch64__)
__asm__(
    ".globl _start\n"
    "_start:\n"
    "  mov x29, #0\n"
    "  mov x30, #0\n"
    "  bl mael_init_main\n");
#endif

extern "C" [[noreturn]] __attribute__((used)) void mael_init_main() { mael::init::main(); }
