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

#include "spec/spec.h"

namespace mael {

// Everything the runtime needs, all resolved: layer trees are on disk.
struct ContainerConfig {
  std::vector<std::filesystem::path> lower_dirs;  // extracted layer trees, bottom to top
  bool enable_writable_file_system = false;       // tmpfs upper that vanishes with the job
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
};

// Lets another thread cancel a running job (the whole namespace is killed).
// The runtime polls fd() together with the job's pidfd.
class CancelToken {
 public:
  CancelToken() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~CancelToken() { if (fd_ >= 0) ::close(fd_); }
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;
  void cancel() {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd_, &one, sizeof one);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct RuntimeOptions {
  // Containers (namespaces created, waiting for a job) kept ready per kind
  // (with / without a network namespace) by a background thread, which takes
  // namespace creation off the job's path. 0: create each on demand.
  size_t prepared_containers = 2;
  // Jobs with network = "disabled" reuse network namespaces that are not
  // theirs to change (see netns_pool.h) instead of each creating one.
  bool reuse_network_namespaces = true;
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

  // Runs one job to completion. Thread-safe: executors call this from one
  // thread per slot. Never throws for the job's own faults: those come back as
  // JobError{Execution}; our failures as JobError{System}.
  JobOutcome run(const ContainerConfig& config, const CancelToken* cancel = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mael
