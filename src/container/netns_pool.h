#pragma once
// Network namespaces reused across jobs. Creating and destroying a network
// namespace is most of a container's cost (about 0.7 ms of CPU each), and a
// job with network = "disabled" needs one only to be cut off from the host.
//
// The pool's namespaces belong to a "holder" user namespace of ours, and a
// job's own user namespace is nested below it, so the job has no privilege
// over the network namespace it runs in: it cannot bring loopback up, add
// interfaces or routes, or change a sysctl, and with loopback down no socket
// can reach anything. What a job leaves behind dies with its processes. One
// namespace serves one job at a time (abstract unix sockets are per network
// namespace). Jobs with loopback keep a fresh namespace each: a closed TCP
// connection lingers in TIME_WAIT and would hold its port for the next job.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace mael {

// The ids a container's user namespace is mapped onto, as the namespace it is
// created in (the host's, or the holder's) sees them.
struct OuterIds {
  uint32_t self_uid = 0, self_gid = 0;  // the runtime's own: the container's init runs as these
  uint32_t job_uid = 0, job_gid = 0;    // the job's: the same unless we run as root
  bool privileged = false;              // we run as root: the maps may name ids other than ours
  std::string scratch_dir;              // the runtime's own directory (see init_program_fd)
};

// Runs fn(arg) in a CLONE_VM | CLONE_FILES | CLONE_VFORK child (plus
// extra_flags) and reaps it; throws naming `what` if the clone fails.
void run_in_vfork_child(int (*fn)(void*), void* arg, int extra_flags, const char* what);

class NetnsPool {
 public:
  // Makes the holder user namespace and its mount namespace; throws if the
  // kernel refuses. host: our ids and the jobs' as the host sees them.
  explicit NetnsPool(const OuterIds& host);
  ~NetnsPool();
  NetnsPool(const NetnsPool&) = delete;
  NetnsPool& operator=(const NetnsPool&) = delete;

  int user_ns() const { return user_ns_.get(); }
  int mount_ns() const { return mount_ns_.get(); }
  // Our ids and the jobs' as the holder user namespace sees them: never 0,
  // because root of the namespace owning a network namespace may write its
  // sysctls.
  const OuterIds& ids() const { return ids_; }

  // A network namespace no job uses (made now if none is free); the caller
  // gives it back once every process in it is gone. Throws on failure.
  int take();
  // `expected`: announced by expect_return() when its job ended, before its processes are gone.
  void give_back(int net_ns, bool expected = false);
  // A namespace's job ended: it is given back once its processes are reaped (on another
  // thread), so take() waits briefly for it rather than make one more.
  void expect_return();
  // How many namespaces exist (in use or free).
  size_t created() const;

 private:
  UniqueFd user_ns_, mount_ns_;
  OuterIds ids_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  size_t returning_ = 0;
  std::vector<int> free_;
  size_t created_ = 0;
};

}  // namespace mael
