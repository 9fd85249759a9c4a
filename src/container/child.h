#pragma once
// The container's first process ("shell"): cloned with CLONE_VM and all the
// namespaces. Before it gets a job it prepares what does not depend on one
// (uid/gid maps, a proc instance), then waits for a job script and walks it:
// root overlay, mounts, pivot_root, exec. Everything it reads is prepared by the parent beforehand; it only
// makes raw system calls: no allocation, no locks, no errno.
#include <cstddef>
#include <cstdint>

namespace mael::child {

// Why the shell stopped before execve; sent to the parent with the errno.
enum class Step : uint32_t {
  Prepare,          // fd shuffle, setsid, signals, proc/sysfs
  UidMap,
  Setgroups,
  GidMap,
  Loopback,
  RootFs,           // building the overlay / bind for "/"
  AttachRoot,
  MountPoint,       // mount point missing in the image (index = mount)
  MountCreate,      // fsopen/fsconfig/fsmount/open_tree (index = mount)
  MountAttach,      // move_mount (index = mount)
  EnterRoot,        // pivot_root into the job's root
  WorkingDirectory,
  Stdio,
  Terminal,         // making the terminal the controlling one
  NotFound,         // no PATH entry has the program
  Exec,
};

struct Report {
  Step step;
  int32_t err;    // errno
  int32_t index;  // mount index for mount steps, else -1
};

// One mount to make, in order, before pivot_root.
struct MountOp {
  enum Kind : uint8_t { NewFs, Bind } kind;
  const char* fstype;                // NewFs: "proc", "tmpfs", ...
  const char* const* options;        // NewFs: key, value, key, value, ..., nullptr
  const char* source;                // Bind: host path, relative to the host's "/"
  const char* target;                // relative to the container root, no leading '/'
  bool read_only;
  int32_t index;                     // reported in errors
};

struct Script {
  bool loopback;        // bring lo up
  // Make /proc/sys and /proc/sysrq-trigger read-only in every proc mount: a
  // job running as the host's uid 0 could write them (their checks are by
  // uid, and they reach past the job's namespaces).
  bool protect_proc;
  // Root file system. Host paths are relative to the host's "/".
  const char* const* lowers;  // top first; nullptr-terminated
  int n_lowers;
  bool writable;
  const MountOp* mounts;
  int n_mounts;
  const char* working_directory;
  // search: try candidates (PATH entries + program) in order with
  // access(X_OK); else exec candidates[0] as given.
  bool search;
  const char* const* candidates;
  int n_candidates;
  char* const* argv;
  char* const* envp;
};

// Shared between the parent and one shell. Fds are the parent's numbers at
// clone time; the shell has copies under the same numbers.
struct Shell {
  // The shell's ends: control (read), report (write), stdin/stdout/stderr.
  int ctl_r = -1, report_w = -1, in_r = -1, out_w = -1, err_w = -1;
  int tty = -1;  // a pseudo-terminal's slave for stdin, stdout and stderr, or -1
  // A detached sysfs mount made for the shell (see launcher.h), used by the
  // job's first sys mount, or -1.
  int sysfs = -1;
  const char* staging = nullptr;   // empty host directory to pivot through
  // "inside outside 1\n", written while preparing (the pool keeps shells per
  // job user and group).
  const char* uid_map = nullptr;
  const char* gid_map = nullptr;
  const Script* script = nullptr;  // set by the parent before it writes to ctl
};

// Entry point for clone(); arg is a Shell*.
int shell_main(void* arg);

}  // namespace mael::child
