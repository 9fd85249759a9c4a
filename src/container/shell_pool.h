#pragma once
// Shells: container first processes with every namespace already created,
// waiting for a job script (see child.h). Creating the namespaces, the network
// namespace above all, is the costly part of starting a container; the pool
// keeps a few shells ready, made by a background thread, so jobs skip it.
#include <signal.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "container/cgroup.h"
#include "container/child.h"
#include "container/id_maps.h"
#include "container/netns_pool.h"

namespace mael {

// How a shell gets its network namespace.
enum class ShellNetwork : uint8_t {
  Host,    // none of its own (network = "local")
  Own,     // a new one, the shell's to configure (loopback) and to mount sysfs of
  Pooled,  // one from the NetnsPool, loopback down, not the shell's to change
};

// What makes shells interchangeable: a shell is made for one kind of job.
struct ShellKind {
  ShellNetwork network = ShellNetwork::Own;
  // Pooled only: a sysfs mount of the pooled namespace is made for the job.
  bool sysfs = false;
  // The job's user and group in the container: its user namespace, made
  // while the shell is prepared, maps them onto its host id.
  uint32_t user = 0, group = 0;
  auto operator<=>(const ShellKind&) const = default;
};

// The container user namespace's maps for ids `outer` (as its parent
// namespace sees them): our id is its root (the init's); the job's host id,
// when it differs, is its uid and gid 1.
struct ContainerMaps {
  explicit ContainerMaps(const OuterIds& outer);
  std::string uid_map, gid_map;
  child::IdMaps maps() const { return {uid_map.c_str(), gid_map.c_str(), !privileged}; }
  bool privileged;
  // The ids inside the container's user namespace the job takes (see
  // child::Script::id_uid).
  uint32_t job_uid, job_gid;
};

// The parent's handle on one shell. Not movable: the shell reads `shared`.
class ShellProcess {
 public:
  // Clones it and starts its init; throws on failure. host: our ids and the
  // jobs' on the host. terminal: see ContainerConfig::terminal. netns: where a
  // Pooled shell's namespace comes from (and goes back to after the shell).
  // cgroups: where to place the container (for memory limits), or null.
  ShellProcess(const ShellKind& kind, const OuterIds& host, int terminal = -1, NetnsPool* netns = nullptr,
               JobCgroups* cgroups = nullptr);
  ~ShellProcess();  // a shell not started is told to exit and reaped
  ShellProcess(const ShellProcess&) = delete;
  ShellProcess& operator=(const ShellProcess&) = delete;

  // The init's pid (in our PID namespace).
  int pid() const { return pid_; }
  // The container's cgroup, if it has one.
  JobCgroups::Job* cgroup() { return cgroup_ ? &*cgroup_ : nullptr; }
  // Sends the job script (see script_blob.h) to the init, which runs it.
  void start(const std::vector<char>& script);
  // Reads what the init reported on report_fd() so far (never blocks): true
  // once its report (a failure, or Step::Ended with how the job ended) is
  // complete, or the init is gone without one. The init writes it as soon as
  // the job ends and exits right after, which ends every other process of the
  // container: the caller need not wait for the init's own end (the shell is
  // reaped when destroyed).
  bool read_report();
  // After read_report() returned true: the report, if the init wrote one.
  bool report(child::Report& report) const;
  int report_fd() const { return report_r_.get(); }
  // Reaps the init (blocking) and returns how it ended: for an init gone
  // without a report.
  siginfo_t reap();
  // The shell's (and so the job's) mount namespace, or -1 if the kernel
  // cannot tell; the caller owns it.
  int take_mount_namespace();
  // The sysfs mount made for the shell (closing it may wait for an RCU grace
  // period, as for the mount namespace), or -1; the caller owns it.
  int take_sysfs();
  // Its job ended and it is being retired: the network namespace comes back to its pool soon.
  void announce_return();

  int pidfd() const { return pidfd_.get(); }
  int stdout_fd() const { return out_r_.get(); }
  int stderr_fd() const { return err_r_.get(); }

 private:
  void release_stack();
  void destroy();  // kills (if started) and reaps the shell, closes everything

  child::Shell shared_;
  int pid_ = -1;
  std::optional<JobCgroups::Job> cgroup_;  // given back once the shell is reaped (destroy)
  UniqueFd pidfd_, ctl_w_, report_r_, out_r_, err_r_, mount_ns_, sysfs_;
  NetnsPool* netns_pool_ = nullptr;
  int net_ns_ = -1;  // Pooled: the namespace leased from netns_pool_
  bool return_announced_ = false;  // netns_pool_ was told it comes back soon
  void* stack_ = nullptr;
  bool started_ = false;
  bool reaped_ = false;
  child::Report report_{};
  size_t report_got_ = 0;
};

class ShellPool {
 public:
  // per_kind 0: no prepared shells (the thread still disposes of namespaces).
  // host: see ShellProcess. Pooled network namespaces are used when the
  // kernel allows them (see pooled_network()).
  // cgroups: see ShellProcess.
  ShellPool(size_t per_kind, const OuterIds& host, bool pool_network_namespaces = true,
            JobCgroups* cgroups = nullptr);
  ~ShellPool();
  ShellPool(const ShellPool&) = delete;
  ShellPool& operator=(const ShellPool&) = delete;

  // A ready shell of that kind, or a new one made now.
  std::unique_ptr<ShellProcess> take(const ShellKind& kind);
  // A new shell whose job's stdio is the terminal `tty`.
  std::unique_ptr<ShellProcess> make_with_terminal(const ShellKind& kind, int tty);
  // Closes fd on the background thread: used for a finished job's mount
  // namespace, whose teardown waits for an RCU grace period.
  void dispose(int fd);
  // Destroys a used shell on the background thread: what is left of it
  // (its cgroup, descriptors whose release waits for the kernel) is not the
  // job's cost.
  void retire(std::unique_ptr<ShellProcess> shell);
  // Whether Pooled shells can be made here; null if not.
  NetnsPool* pooled_network() { return netns_.get(); }

 private:
  void fill_loop();
  void dispose_loop();

  size_t per_kind_;
  OuterIds host_;
  JobCgroups* cgroups_;
  std::unique_ptr<NetnsPool> netns_;  // before the shells: they give their namespaces back
  std::mutex mu_;
  std::condition_variable cv_;          // the filler's
  std::condition_variable ready_cv_;    // take()'s: a filler finished a shell
  std::condition_variable dispose_cv_;  // the disposer's
  struct Ready {
    std::deque<std::unique_ptr<ShellProcess>> shells;
    size_t making = 0;  // being made by a filler
    uint64_t last_use = 0;
    bool failed = false;  // creation failed: stop trying in the background
  };
  // Kinds asked for lately (at most kMaxKinds, least recently used dropped).
  std::map<ShellKind, Ready> ready_;
  uint64_t uses_ = 0;
  std::vector<UniqueFd> to_close_;
  std::vector<std::unique_ptr<ShellProcess>> to_retire_;
  bool stop_ = false;
  // Two fillers: making a container mostly waits for the kernel (an RCU grace
  // period when it joins a memory cgroup), so two overlap their waits.
  std::vector<std::thread> fillers_;
  std::thread disposer_;
};

}  // namespace mael
