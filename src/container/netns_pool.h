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
#include <cstdint>
#include <mutex>
#include <vector>

namespace mael {

// Runs fn(arg) in a CLONE_VM | CLONE_FILES | CLONE_VFORK child (plus
// extra_flags) and reaps it; throws naming `what` if the clone fails.
void run_in_vfork_child(int (*fn)(void*), void* arg, int extra_flags, const char* what);

class NetnsPool {
 public:
  // Makes the holder user namespace (mapping our uid and gid onto
  // themselves) and its mount namespace; throws if the kernel refuses.
  NetnsPool();
  ~NetnsPool();
  NetnsPool(const NetnsPool&) = delete;
  NetnsPool& operator=(const NetnsPool&) = delete;

  int user_ns() const { return user_ns_; }
  int mount_ns() const { return mount_ns_; }
  // Our uid and gid as the holder user namespace sees them: never 0, because
  // root of the namespace owning a network namespace may write its sysctls.
  uint32_t uid() const { return uid_; }
  uint32_t gid() const { return gid_; }

  // A network namespace no job uses (made now if none is free); the caller
  // gives it back once every process in it is gone. Throws on failure.
  int take();
  void give_back(int net_ns);
  // How many namespaces exist (in use or free).
  size_t created() const;

 private:
  int user_ns_ = -1, mount_ns_ = -1;
  uint32_t uid_ = 0, gid_ = 0;
  mutable std::mutex mu_;
  std::vector<int> free_;
  size_t created_ = 0;
};

}  // namespace mael
