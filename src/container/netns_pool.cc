#include "container/netns_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>

#include <chrono>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/error.h"
#include "container/id_maps.h"
#include "container/launcher.h"

namespace mael {

// The child runs on a stack in our frame: we are suspended while it runs.
void run_in_vfork_child(int (*fn)(void*), void* arg, int extra_flags, const char* what) {
  constexpr size_t kStack = 16 * 1024;
  alignas(16) char stack[kStack];
  int pid = ::clone(fn, stack + kStack, CLONE_VM | CLONE_FILES | CLONE_VFORK | SIGCHLD | extra_flags, arg);
  if (pid < 0) throw_errno(what);
  int status;
  while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
}

NetnsPool::NetnsPool(const OuterIds& host) {
  // Anyone but root keeps their id in the holder. Root maps host root to 1
  // and the jobs' host id to 2 (the holder's 0 stays unmapped).
  std::string uid_map, gid_map;
  if (host.privileged) {
    ids_ = {1, 1, 2, 2, true, host.scratch_dir};
    uid_map = "1 " + std::to_string(host.self_uid) + " 1\n2 " + std::to_string(host.job_uid) + " 1\n";
    gid_map = "1 " + std::to_string(host.self_gid) + " 1\n2 " + std::to_string(host.job_gid) + " 1\n";
  } else {
    ids_ = host;
    uid_map = std::to_string(host.self_uid) + " " + std::to_string(host.self_uid) + " 1\n";
    gid_map = std::to_string(host.self_gid) + " " + std::to_string(host.self_gid) + " 1\n";
  }
  child::IdMaps maps{uid_map.c_str(), gid_map.c_str(), !host.privileged};

  // The holder's first process waits on a pipe while we write its maps and
  // open its namespaces; then it exits and the descriptors keep them.
  Pipe holder_pipe = open_pipe();
  int pipe[2] = {holder_pipe.read.get(), holder_pipe.write.get()};  // the holder's copies (its own fd table)
  constexpr size_t kStack = 64 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) throw_errno("mmap");
  int pid = ::clone(launcher::holder_main, static_cast<char*>(stack) + kStack,
                    CLONE_VM | CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, pipe);
  int clone_errno = errno;
  long rc = 0;
  child::Step step = child::Step::UidMap;
  std::string what;
  if (pid < 0) {
    rc = -clone_errno;
    what = "clone (holder user namespace)";
  } else if ((rc = child::write_id_maps(pid, maps, &step)) < 0) {
    what = step == child::Step::UidMap ? "holder user namespace: writing uid_map"
           : step == child::Step::GidMap ? "holder user namespace: writing gid_map"
                                         : "holder user namespace: writing setgroups";
  } else {
    std::string proc = "/proc/" + std::to_string(pid) + "/ns/";
    user_ns_.reset(::open((proc + "user").c_str(), O_RDONLY | O_CLOEXEC));
    mount_ns_.reset(::open((proc + "mnt").c_str(), O_RDONLY | O_CLOEXEC));
    if (!user_ns_.valid() || !mount_ns_.valid()) {
      rc = -errno;
      what = "holder user namespace: opening its namespaces";
    }
  }
  // EOF on its pipe: the holder exits.
  holder_pipe.write.reset();
  holder_pipe.read.reset();
  if (pid > 0) {
    int status;
    while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
    }
  }
  ::munmap(stack, kStack);
  if (rc < 0) throw_errno(what, static_cast<int>(-rc));
}

NetnsPool::~NetnsPool() {
  for (int fd : free_) ::close(fd);
}

int NetnsPool::take() {
  {
    std::unique_lock lock(mu_);
    // Reaping a finished job takes well under this; a namespace made instead costs about as much
    // and would stay in the pool for good.
    returned_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !free_.empty() || returning_ == 0; });
    if (!free_.empty()) {
      int fd = free_.back();
      free_.pop_back();
      return fd;
    }
  }
  launcher::NewNetns made;
  made.user_ns = user_ns_.get();
  run_in_vfork_child(launcher::netns_main, &made, 0, "clone (network namespace maker)");
  if (made.result < 0)
    throw_errno(std::string("pooled network namespace: ") + made.step, static_cast<int>(-made.result));
  std::lock_guard lock(mu_);
  ++created_;
  return made.net_ns;
}

void NetnsPool::give_back(int net_ns, bool expected) {
  {
    std::lock_guard lock(mu_);
    if (expected && returning_ > 0) --returning_;
    if (net_ns >= 0) free_.push_back(net_ns);
  }
  returned_.notify_all();
}

void NetnsPool::expect_return() {
  std::lock_guard lock(mu_);
  ++returning_;
}

size_t NetnsPool::created() const {
  std::lock_guard lock(mu_);
  return created_;
}

}  // namespace mael
