#pragma once
// The container runtime: runs one program in a fresh rootless container and
// reports how it ended. It knows nothing of brokers, clients or test runners.
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "spec/spec.h"
#include "store/fs_util.h"

namespace mael {

// Per-job limits, applied where the job cannot lift them (see docs/security.md).
struct ContainerLimits {
  static constexpr uint64_t kDefaultMaxProcesses = 1024;
  // Processes and threads the job may have at once (RLIMIT_NPROC, counted in
  // the job's own user namespace); 0: no limit.
  uint64_t max_processes = kDefaultMaxProcesses;
  // Bytes of memory, the job's tmpfs pages included; enforced with a memory
  // cgroup where one can be had (Runtime::enforces_memory_limits); 0: none.
  uint64_t max_memory = 0;
  // Bytes of each tmpfs the job gets: tmp mounts, /dev/shm, the writable
  // root's upper layer, an empty root.
  uint64_t max_tmpfs_size = 0;
  // The defaults: 1024 processes, half of this machine's memory, a quarter of
  // it per tmpfs.
  static ContainerLimits defaults();
};

// Everything the runtime needs, all resolved: layer trees are on disk.
struct ContainerConfig {
  std::vector<std::filesystem::path> lower_dirs;  // extracted layer trees, bottom to top
  bool enable_writable_file_system = false;       // tmpfs upper that vanishes with the job
  // The writable root's upper and work directories on the host instead (the job's changes stay).
  std::optional<CaptureFileSystemChanges> capture;
  std::optional<JobTty> tty;  // run_with_tty_socket() relays it (the runtime takes `terminal`)
  std::vector<Mount> mounts;                      // Bind: local_path absolute on the host
  Network network = Network::Disabled;
  std::string program;                            // looked up on the container's PATH if it has no '/'
  std::vector<std::string> arguments;
  std::vector<std::string> environment;           // "NAME=value"
  std::string working_directory = "/";
  uint32_t user = 0;
  uint32_t group = 0;
  std::optional<std::chrono::milliseconds> timeout;
  size_t inline_limit = 1 << 20;                  // per stream; the rest is counted as truncated
  // A pseudo-terminal's slave (an fd of the caller, kept open until run()
  // returns), or -1. It becomes the job's stdin, stdout, stderr and
  // controlling terminal; the outcome then has no output (it went there).
  int terminal = -1;
  ContainerLimits limits = ContainerLimits::defaults();
};

// Lets another thread cancel a running job (the whole namespace is killed).
// The runtime polls fd() together with the job's pidfd.
class CancelToken {
 public:
  CancelToken() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  void cancel() {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd_.get(), &one, sizeof one);
  }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

struct RuntimeOptions {
  // Containers (namespaces created, waiting for a job) kept ready per kind
  // (with / without a network namespace) by a background thread, which takes
  // namespace creation off the job's path. 0: create each on demand.
  size_t prepared_containers = 2;
  // Jobs with network = "disabled" reuse network namespaces that are not
  // theirs to change (see netns_pool.h) instead of each creating one.
  bool reuse_network_namespaces = true;
  // When we run as root, the host user and group every job runs as (whatever
  // its ids inside the container): never host root, so global sysctls, /sys,
  // device nodes and the host's files are out of the job's reach by the
  // kernel's own checks. Not 0. Ignored when we do not run as root: jobs then
  // run as our own user. Layer trees must be owned by these ids (the artifact
  // store's tree owner), so that the job sees them as its own.
  // Put each container in a memory cgroup of its own where one can be had,
  // for ContainerLimits::max_memory (false: never; memory is then unbounded).
  bool memory_cgroups = true;
  uint32_t job_host_uid = kDefaultJobHostId;
  uint32_t job_host_gid = kDefaultJobHostId;
  static constexpr uint32_t kDefaultJobHostId = 65534;  // nobody, nogroup
};

class Runtime {
 public:
  // Checks that the kernel lets this user create the namespaces and mounts we
  // need; throws UserError naming the fix (sysctl, AppArmor) when it does not.
  static void check_support();

  // scratch_dir: where per-runtime mount points and state may live.
  explicit Runtime(std::filesystem::path scratch_dir, RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Who must own the layer trees jobs of a runtime with these options use
  // (the artifact store's tree owner): the jobs' host id when we run as root;
  // nullopt (ourselves) otherwise.
  static std::optional<FileOwner> tree_owner(const RuntimeOptions& options);

  // Whether ContainerLimits::max_memory is enforced here (a cgroup we may
  // make job cgroups in was found).
  bool enforces_memory_limits() const;

  // Runs one job to completion. Thread-safe: executors call this from one
  // thread per slot. Never throws for the job's own faults: those come back as
  // JobError{Execution}; our failures as JobError{System}.
  JobOutcome run(const ContainerConfig& config, const CancelToken* cancel = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mael
