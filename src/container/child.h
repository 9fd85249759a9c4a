#pragma once
// What the parent, the shell and the container's init share.
//
// A container starts as a "shell": a CLONE_VM child of the runtime, cloned with
// all the namespaces, which only moves its descriptors to fixed numbers, waits
// until the parent has written its uid/gid maps and executes the init (a
// small static program of ours, see init/init_main.cc, run from a sealed
// memfd). The init, PID 1 of the container, prepares what does not depend on
// a job's script (see Prep), then reads a job script (a relocatable blob, see
// script_blob.h) and walks it: root overlay, mounts, pivot_root. It then forks
// the job, which takes its ids and limits in its own user namespace (with no
// capability over the container's mounts, which belong to the init's) and
// execs the program; the init reaps every process of the namespace and
// reports how the job ended.
#include <cstddef>
#include <cstdint>

namespace mael::child {

// Where a step failed, or Ended; sent to the parent over the report socket.
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
  Fork,             // the init could not fork the job
  JobIds,           // the job's groups, gid and uid in the container's user namespace
  Limits,           // the job's resource limits
  JobNamespaces,    // the job's own user and mount namespaces
  Script,           // the init could not read the job script
  Cgroup,           // the container's first process could not join its cgroup
  Ended,            // not a failure: the job ended; err = si_code, index = si_status
};

struct Report {
  Step step;
  int32_t err;    // errno (Ended: si_code)
  int32_t index;  // mount index for mount steps (Ended: si_status), else -1
};

// What the init prepares before a job script comes: sent by the parent right
// after the shell's go.
struct Prep {
  // The job's user namespace maps the job's ids (uid, gid) onto ids of the
  // container's user namespace (id_uid, id_gid): 0, the init's own, or, when
  // we run as root, 1: an unprivileged host id (RuntimeOptions::job_host_uid).
  uint32_t uid, gid;
  uint32_t id_uid, id_gid;
  // Give the job's user namespace a network namespace of its own (the job may
  // configure it); else the container keeps the one it was started in.
  bool own_network;
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
  // An empty host directory the job's root is attached to before pivot_root
  // (relative to the host's "/"; every container has its own mount namespace).
  const char* staging;
  // Root file system. Host paths are relative to the host's "/".
  const char* const* lowers;  // top first; nullptr-terminated
  int n_lowers;
  bool writable;
  // The writable root's upper and work directories on the host (relative to
  // the host's "/"), or nullptr for a tmpfs upper that vanishes with the job.
  const char* capture_upper;
  const char* capture_work;
  // Options of every tmpfs made for the job (the writable root's upper, an
  // empty root): key, value, ..., nullptr (the size limit).
  const char* const* tmpfs_options;
  const MountOp* mounts;
  int n_mounts;
  const char* working_directory;
  // RLIMIT_NPROC for the job (0: leave as is).
  uint64_t max_processes;
  bool terminal;        // stdin is a terminal to make the controlling one
  // search: try candidates (PATH entries + program) in order with
  // access(X_OK); else exec candidates[0] as given.
  bool search;
  const char* const* candidates;
  int n_candidates;
  char* const* argv;
  char* const* envp;
};

// The descriptors the init finds at fixed numbers (everything else is closed
// or close-on-exec when it starts).
constexpr int kCtlFd = 3;      // control socket: a Prep, then a job script, or EOF to exit
constexpr int kReportFd = 4;   // report socket: one Report
constexpr int kStdinFd = 5;    // the job's stdin, stdout and stderr (a terminal: all three)
constexpr int kStdoutFd = 6;
constexpr int kStderrFd = 7;
constexpr int kSysfsFd = 8;    // a detached sysfs mount for the job's first sys mount, if any
constexpr int kFirstFreeFd = 9;

// What the shell needs; read by the shell (a CLONE_VM child) before it
// executes the init. Fds are the parent's numbers at clone time; the shell has
// copies under the same numbers.
struct Shell {
  int ctl_r = -1, report_w = -1, in_r = -1, out_w = -1, err_w = -1;
  int tty = -1;    // a pseudo-terminal's slave for stdin, stdout and stderr, or -1
  int sysfs = -1;  // a detached sysfs mount made for the shell (see launcher.h), or -1
  int init = -1;   // the init program (a sealed memfd)
  // A cgroup's join descriptor (JobCgroups::Job::join_fd) to join before
  // anything else, or -1.
  int cgroup = -1;
  char* const* init_argv = nullptr;
  char* const* init_envp = nullptr;
};

// Entry point for clone(); arg is a Shell*.
int shell_main(void* arg);

}  // namespace mael::child
