#include "container/netns_pool.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/error.h"
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

NetnsPool::NetnsPool() {
  // Host root becomes uid/gid 1 in the holder namespace; anyone else keeps
  // their id.
  uid_ = ::geteuid() == 0 ? 1 : ::geteuid();
  gid_ = ::getegid() == 0 ? 1 : ::getegid();
  std::string uid_map = std::to_string(uid_) + " " + std::to_string(::geteuid()) + " 1\n";
  std::string gid_map = std::to_string(gid_) + " " + std::to_string(::getegid()) + " 1\n";
  launcher::Holder holder;
  holder.uid_map = uid_map.c_str();
  holder.gid_map = gid_map.c_str();
  run_in_vfork_child(launcher::holder_main, &holder, CLONE_NEWUSER, "clone (holder user namespace)");
  if (holder.result < 0)
    throw_errno(std::string("holder user namespace: ") + holder.step, static_cast<int>(-holder.result));
  user_ns_ = holder.user_ns;
  mount_ns_ = holder.mount_ns;
}

NetnsPool::~NetnsPool() {
  for (int fd : free_) ::close(fd);
  if (user_ns_ >= 0) ::close(user_ns_);
  if (mount_ns_ >= 0) ::close(mount_ns_);
}

int NetnsPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      int fd = free_.back();
      free_.pop_back();
      return fd;
    }
  }
  launcher::NewNetns made;
  made.user_ns = user_ns_;
  run_in_vfork_child(launcher::netns_main, &made, 0, "clone (network namespace maker)");
  if (made.result < 0)
    throw_errno(std::string("pooled network namespace: ") + made.step, static_cast<int>(-made.result));
  std::lock_guard lock(mu_);
  ++created_;
  return made.net_ns;
}

void NetnsPool::give_back(int net_ns) {
  if (net_ns < 0) return;
  std::lock_guard lock(mu_);
  free_.push_back(net_ns);
}

size_t NetnsPool::created() const {
  std::lock_guard lock(mu_);
  return created_;
}

}  // namespace mael
