#include "container/shell_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "container/init_binary.h"
#include "container/launcher.h"

namespace mael {
namespace {

constexpr size_t kStackSize = 256 * 1024;

// Shell stacks, kept for the next shells (a shell is done with its stack once
// it is reaped): mapping one and unmapping it for every container costs page
// faults and, in a process of many threads, a TLB flush on every CPU.
class StackCache {
 public:
  void* get() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        void* stack = free_.back();
        free_.pop_back();
        return stack;
      }
    }
    void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) throw_errno("mmap shell stack");
    return stack;
  }
  void put(void* stack) {
    {
      std::lock_guard lock(mu_);
      if (free_.size() < kKept) {
        free_.push_back(stack);
        return;
      }
    }
    ::munmap(stack, kStackSize);
  }

 private:
  static constexpr size_t kKept = 16;
  std::mutex mu_;
  std::vector<void*> free_;
};

StackCache& stacks() {
  static StackCache* cache = new StackCache;  // never destroyed: shells may outlive static destructors
  return *cache;
}
// Kinds of shells kept ready at once; jobs of other kinds make theirs on demand.
constexpr size_t kMaxKinds = 4;
// <linux/pidfd.h> of Linux 6.11; older kernels fail it and we do without.
constexpr unsigned long kPidfdGetMntNamespace = _IO(0xFF, 3);

}  // namespace

ContainerMaps::ContainerMaps(const OuterIds& outer) : privileged(outer.privileged) {
  auto line = [](uint32_t inside, uint32_t outside) {
    return std::to_string(inside) + " " + std::to_string(outside) + " 1\n";
  };
  uid_map = line(0, outer.self_uid);
  gid_map = line(0, outer.self_gid);
  job_uid = job_gid = 0;
  if (privileged) {
    uid_map += line(1, outer.job_uid);
    gid_map += line(1, outer.job_gid);
    job_uid = job_gid = 1;
  }
}

ShellProcess::ShellProcess(const ShellKind& kind, const OuterIds& host, int terminal, NetnsPool* netns,
                           JobCgroups* cgroups) {
  if (kind.network == ShellNetwork::Pooled) {
    if (!netns) throw std::logic_error("a pooled network namespace needs a NetnsPool");
    net_ns_ = netns->take();
    netns_pool_ = netns;
  }
  // Gives the namespace back if we throw below (the destructor won't run).
  struct Lease {
    ShellProcess& self;
    bool done = false;
    ~Lease() {
      if (!done && self.netns_pool_) self.netns_pool_->give_back(self.net_ns_);
    }
  } lease{*this};
  const ContainerMaps maps(netns_pool_ ? netns_pool_->ids() : host);
  const child::IdMaps id_maps = maps.maps();
  // 0: control (a socket, so that writing to a shell that died early fails
  // with EPIPE instead of raising SIGPIPE), 1: report, 2-4: stdin/out/err.
  UniqueFd pipes[5][2];
  for (int i = 0; i < 5; ++i) {
    int p[2];
    check_sys(i <= 1 ? ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) : ::pipe2(p, O_CLOEXEC),
              "pipe");
    pipes[i][0].reset(p[0]);
    pipes[i][1].reset(p[1]);
  }
  UniqueFd* ctl = pipes[0];
  UniqueFd* report = pipes[1];
  UniqueFd* in = pipes[2];
  UniqueFd* out = pipes[3];
  UniqueFd* err = pipes[4];
  stack_ = stacks().get();

  static char init_name[] = "maelstrom-init";
  static char* const init_argv[] = {init_name, nullptr};
  static char* const init_envp[] = {nullptr};
  shared_.ctl_r = ctl[0].get();
  shared_.report_w = report[1].get();
  shared_.in_r = in[0].get();
  shared_.out_w = out[1].get();
  shared_.err_w = err[1].get();
  shared_.tty = terminal;
  shared_.init = init_program_fd(host.scratch_dir);
  shared_.init_argv = init_argv;
  shared_.init_envp = init_envp;
  // The container's cgroup: where the kernel lets it, the shell joins it
  // itself, first thing (see JobCgroups::Job::join_fd); else it is moved
  // there below, before the init starts.
  if (cgroups) {
    cgroup_.emplace(cgroups->take());
    shared_.cgroup = cgroup_->join_fd();
  }
  // (An Own network namespace is made by the init, for the job's user
  // namespace to own: see child::Prep.)
  int flags = CLONE_VM | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
              CLONE_NEWUTS | SIGCHLD;
  const char* failed_step = "clone (new user, mount, pid, ipc, uts namespaces)";
  int pid, e;
  int pidfd = -1;  // written by clone (CLONE_PIDFD)
  long maps_rc = 0;
  child::Step maps_step = child::Step::UidMap;
  if (kind.network == ShellNetwork::Pooled) {
    launcher::Launch launch;
    launch.user_ns = netns_pool_->user_ns();
    launch.mount_ns = netns_pool_->mount_ns();
    launch.net_ns = net_ns_;
    launch.sysfs = kind.sysfs;
    launch.shell = &shared_;
    launch.shell_stack_top = static_cast<char*>(stack_) + kStackSize;
    launch.clone_flags = flags;
    launch.pidfd = &pidfd;
    launch.maps = &id_maps;
    try {
      run_in_vfork_child(launcher::launch_main, &launch, 0, "clone (container launcher)");
    } catch (const std::system_error& err) {
      launch.result = -err.code().value();
      launch.step = "clone (container launcher)";
    }
    sysfs_.reset(shared_.sysfs);  // ours now (the launcher shares our fd table)
    pid = launch.result < 0 ? -1 : static_cast<int>(launch.result);
    e = launch.result < 0 ? static_cast<int>(-launch.result) : 0;
    if (launch.step) failed_step = launch.step;
    maps_rc = launch.maps_result;
    maps_step = launch.maps_step;
  } else {
    pid = ::clone(child::shell_main, static_cast<char*>(stack_) + kStackSize, flags, &shared_, &pidfd);
    e = errno;
    if (pid > 0) maps_rc = child::write_id_maps(pid, id_maps, &maps_step);
  }
  // The shell has its own copies; keep only our ends (stdin's write end goes
  // too: the job's stdin is at EOF).
  ctl[0].reset();
  report[1].reset();
  in[0].reset();
  in[1].reset();
  out[1].reset();
  err[1].reset();
  if (pid < 0) {
    release_stack();
    throw_errno(failed_step, e);  // the descriptors close as the constructor unwinds
  }
  pidfd_.reset(pidfd);
  ctl_w_ = std::move(ctl[1]);
  report_r_ = std::move(report[0]);
  out_r_ = std::move(out[0]);
  err_r_ = std::move(err[0]);
  pid_ = pid;
  lease.done = true;
  if (maps_rc < 0) {
    // The shell waits for our go: closing the control socket makes it exit,
    // and the destructor reaps it.
    const char* what = maps_step == child::Step::UidMap   ? "writing the container's uid_map"
                       : maps_step == child::Step::GidMap ? "writing the container's gid_map"
                                                          : "writing the container's setgroups";
    std::string message = std::string(what) + " (" + maps.uid_map.substr(0, maps.uid_map.size() - 1) + ")";
    destroy();
    throw_errno(message, static_cast<int>(-maps_rc));
  }
  // In its cgroup before the init starts anything.
  if (cgroup_ && cgroup_->join_fd() < 0) {
    try {
      cgroup_->add(pid);
    } catch (const std::exception&) {
      destroy();
      throw;
    }
  }
  // The maps are written: the shell may execute the init, which then reads
  // what to prepare.
  struct {
    char go = 'm';
    child::Prep prep;
  } __attribute__((packed)) message;
  message.prep = {kind.user, kind.group, maps.job_uid, maps.job_gid, kind.network == ShellNetwork::Own};
  if (::send(ctl_w_.get(), &message, sizeof message, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof message)) {
    int e2 = errno;
    destroy();
    throw_errno("starting the container init", e2);
  }
  // The mount namespace exists from clone on (the init only changes mounts
  // inside it); whoever holds it last pays for its teardown.
  mount_ns_.reset(::ioctl(pidfd_.get(), kPidfdGetMntNamespace, 0));
  ::fcntl(report_r_.get(), F_SETFL, O_NONBLOCK);
}

ShellProcess::~ShellProcess() { destroy(); }

siginfo_t ShellProcess::reap() {
  siginfo_t info{};
  if (!reaped_) {
    while (::waitid(P_PIDFD, pidfd_.get(), &info, WEXITED) < 0 && errno == EINTR) {
    }
    started_ = false;
    reaped_ = true;
  }
  return info;
}

void ShellProcess::destroy() {
  if (pidfd_.valid()) {
    if (started_) {
      // The job may still run if we got here through an exception; after a
      // report the init is ending anyway.
      ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    }
    ctl_w_.reset();  // EOF: an idle shell exits
    reap();
    pidfd_.reset();
  }
  release_stack();
  ctl_w_.reset();
  report_r_.reset();
  out_r_.reset();
  err_r_.reset();
  mount_ns_.reset();
  sysfs_.reset();
  // The shell and everything in its PID namespace are gone: no process is
  // left in the network namespace.
  if (netns_pool_) netns_pool_->give_back(net_ns_, return_announced_);
  netns_pool_ = nullptr;
  net_ns_ = -1;
  cgroup_.reset();
}

void ShellProcess::announce_return() {
  if (!netns_pool_ || net_ns_ < 0 || return_announced_) return;
  netns_pool_->expect_return();
  return_announced_ = true;
}

int ShellProcess::take_sysfs() {
  return sysfs_.release();
}

int ShellProcess::take_mount_namespace() {
  return mount_ns_.release();
}

void ShellProcess::start(const std::vector<char>& script) {
  started_ = true;
  uint64_t size = script.size();
  std::string message(reinterpret_cast<const char*>(&size), sizeof size);
  message.append(script.data(), script.size());
  size_t sent = 0;
  while (sent < message.size()) {
    ssize_t n = ::send(ctl_w_.get(), message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // An init that died early left its report; report() reads it.
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) break;
    if (n < 0) throw_errno("starting the container");
    sent += static_cast<size_t>(n);
  }
  ctl_w_.reset();
}

bool ShellProcess::read_report() {
  if (!report_r_.valid()) return true;
  char* p = reinterpret_cast<char*>(&report_);
  while (report_got_ < sizeof report_) {
    ssize_t n = ::read(report_r_.get(), p + report_got_, sizeof report_ - report_got_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return false;
    if (n <= 0) break;  // EOF: the init is gone
    report_got_ += static_cast<size_t>(n);
  }
  report_r_.reset();
  return true;
}

bool ShellProcess::report(child::Report& report) const {
  if (report_got_ == sizeof report_) {
    report = report_;
    return true;
  }
  if (report_got_ != 0) {
    report = child::Report{child::Step::Prepare, EIO, -1};
    return true;
  }
  return false;
}

void ShellProcess::release_stack() {
  if (stack_) stacks().put(stack_);
  stack_ = nullptr;
}

ShellPool::ShellPool(size_t per_kind, const OuterIds& host, bool pool_network_namespaces,
                     JobCgroups* cgroups)
    : per_kind_(per_kind), host_(host), cgroups_(cgroups) {
  if (pool_network_namespaces) {
    try {
      netns_ = std::make_unique<NetnsPool>(host);
    } catch (const std::exception&) {
      // This kernel or sandbox refuses nested user namespaces or setns:
      // every job gets a network namespace of its own instead.
    }
  }
  for (int i = 0; i < 2; ++i) fillers_.emplace_back([this] { fill_loop(); });
  disposer_ = std::thread([this] { dispose_loop(); });
}

ShellPool::~ShellPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  ready_cv_.notify_all();
  dispose_cv_.notify_all();
  for (auto& t : fillers_) t.join();
  if (disposer_.joinable()) disposer_.join();
  to_close_.clear();
  // Ready shells are destroyed (told to exit and reaped) with ready_.
}

std::unique_ptr<ShellProcess> ShellPool::take(const ShellKind& kind) {
  if (per_kind_ > 0) {
    std::unique_lock lock(mu_);
    auto it = ready_.find(kind);
    if (it == ready_.end()) {
      // A new kind: forget the least recently used one if there are too many.
      if (ready_.size() >= kMaxKinds) {
        auto lru = ready_.begin();
        for (auto i = ready_.begin(); i != ready_.end(); ++i)
          if (i->second.last_use < lru->second.last_use) lru = i;
        auto shells = std::move(lru->second.shells);
        ready_.erase(lru);
        lock.unlock();
        shells.clear();  // tells them to exit and reaps them, outside the lock
        lock.lock();
      }
      it = ready_.try_emplace(kind).first;
    }
    it->second.last_use = ++uses_;
    if (it->second.shells.empty() && it->second.making > 0) {
      // A filler is making one already: it is ready sooner than one made
      // from the start here.
      cv_.notify_all();
      ready_cv_.wait(lock, [&] {
        auto i = ready_.find(kind);
        return stop_ || i == ready_.end() || !i->second.shells.empty() || i->second.making == 0;
      });
      it = ready_.find(kind);
    }
    std::unique_ptr<ShellProcess> shell;
    if (it != ready_.end() && !it->second.shells.empty()) {
      shell = std::move(it->second.shells.front());
      it->second.shells.pop_front();
    }
    lock.unlock();
    cv_.notify_all();
    if (shell) return shell;
  }
  return std::make_unique<ShellProcess>(kind, host_, -1, netns_.get(), cgroups_);
}

std::unique_ptr<ShellProcess> ShellPool::make_with_terminal(const ShellKind& kind, int tty) {
  return std::make_unique<ShellProcess>(kind, host_, tty, netns_.get(), cgroups_);
}

void ShellPool::retire(std::unique_ptr<ShellProcess> shell) {
  if (!shell) return;
  shell->announce_return();
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      to_retire_.push_back(std::move(shell));
      shell = nullptr;
    }
  }
  dispose_cv_.notify_all();
  // (Stopping: destroyed here.)
}

void ShellPool::dispose(int fd) {
  if (fd < 0) return;
  {
    std::lock_guard lock(mu_);
    to_close_.emplace_back(fd);
  }
  dispose_cv_.notify_all();
}

void ShellPool::fill_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    std::optional<ShellKind> kind;
    cv_.wait(lock, [&] {
      if (stop_) return true;
      // The most recently used kind first.
      uint64_t best = 0;
      for (auto& [k, r] : ready_)
        if (!r.failed && r.shells.size() + r.making < per_kind_ && r.last_use > best) {
          best = r.last_use;
          kind = k;
        }
      return kind.has_value();
    });
    if (stop_) return;
    ++ready_[*kind].making;
    lock.unlock();
    std::unique_ptr<ShellProcess> shell;
    try {
      shell = std::make_unique<ShellProcess>(*kind, host_, -1, netns_.get(), cgroups_);
    } catch (const std::exception&) {
      // take() will make one itself and report the error with the job.
    }
    lock.lock();
    ready_cv_.notify_all();
    auto it = ready_.find(*kind);
    if (it == ready_.end()) continue;  // dropped meanwhile (~shell reaps it)
    --it->second.making;
    if (shell)
      it->second.shells.push_back(std::move(shell));
    else
      it->second.failed = true;
  }
}

// Apart from the filler: releasing a namespace may wait for an RCU grace
// period, which would hold up the next prepared container.
void ShellPool::dispose_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    dispose_cv_.wait(lock, [&] { return stop_ || !to_close_.empty() || !to_retire_.empty(); });
    if (stop_) return;
    std::vector<std::unique_ptr<ShellProcess>> shells;
    shells.swap(to_retire_);
    std::vector<UniqueFd> fds;
    fds.swap(to_close_);
    lock.unlock();
    shells.clear();
    fds.clear();
    lock.lock();
  }
}

}  // namespace mael
