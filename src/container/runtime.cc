#include "container/runtime.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "base/error.h"
#include "container/cgroup.h"
#include "container/job_script.h"
#include "container/shell_pool.h"

namespace mael {
namespace {

using Clock = std::chrono::steady_clock;

// Appends what is readable on fd to out (up to limit, counting the rest) and adds the
// number of bytes read to *got; returns false at EOF.
bool drain(int fd, JobOutput& out, size_t limit, size_t* got) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  size_t len = static_cast<size_t>(n);
  size_t keep = out.first.size() < limit ? std::min(len, limit - out.first.size()) : 0;
  out.first.append(buf, keep);
  out.truncated += len - keep;
  *got += len;
  return true;
}

// A job writing many small pieces (a line-buffered test printing 20,000 lines) would wake
// this thread once per write, and each wakeup costs the writer too (20,000 lines took 65 ms
// in a job against 39 ms into a file). After a small read we let output gather for a moment
// instead: the pipe holds 64 KiB, far more than such a writer produces meanwhile.
constexpr size_t kSmallRead = 16 * 1024;
constexpr timespec kGatherPause{0, 500'000};

int kill_job(int pidfd) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0)); }

// How many sys mounts a job makes.
int sys_mounts(const ContainerConfig& config) {
  int n = 0;
  for (const Mount& m : config.mounts) n += m.type == MountType::Sys;
  return n;
}

// Whether something of the job outside its container may be used once run()
// returns: host files it may write (captured changes, writable binds), which
// the caller may read, or the caller's terminal.
bool reaches_host(const ContainerConfig& config) {
  if (config.capture || config.terminal >= 0) return true;
  for (const Mount& m : config.mounts)
    if (m.type == MountType::Bind && !m.read_only) return true;
  return false;
}

OuterIds host_ids(const RuntimeOptions& options, const std::filesystem::path& scratch_dir) {
  OuterIds ids;
  ids.scratch_dir = scratch_dir.string();
  ids.self_uid = ::geteuid();
  ids.self_gid = ::getegid();
  ids.privileged = ids.self_uid == 0;
  ids.job_uid = ids.privileged ? options.job_host_uid : ids.self_uid;
  ids.job_gid = ids.privileged ? options.job_host_gid : ids.self_gid;
  if (ids.privileged && (ids.job_uid == 0 || ids.job_gid == 0))
    throw UserError("the host user and group jobs run as when run as root (job-host-uid, job-host-gid) must not "
                    "be 0: a job's root must never be host root");
  return ids;
}

}  // namespace

ContainerLimits ContainerLimits::defaults() {
  static const ContainerLimits limits = [] {
    ContainerLimits l;
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                                         : uint64_t{4} << 30;
    l.max_memory = ram / 2;
    l.max_tmpfs_size = ram / 4;
    return l;
  }();
  return limits;
}

struct Runtime::Impl {
  // scratch/root: an empty directory each container pivots through (in its own
  // mount namespace, so all can share it).
  std::string staging;
  std::unique_ptr<JobCgroups> cgroups;  // before the pool: its containers are in these
  ShellPool pool;
  FileOwner job_owner;
  Impl(const std::filesystem::path& dir, const RuntimeOptions& options)
      : staging(std::filesystem::absolute(dir / "root").string()),
        cgroups(options.memory_cgroups ? JobCgroups::detect() : nullptr),
        pool(options.prepared_containers, host_ids(options, dir), options.reuse_network_namespaces, cgroups.get()),
        job_owner{options.job_host_uid, options.job_host_gid} {}

  ShellKind kind_for(const ContainerConfig& config) {
    ShellKind kind{ShellNetwork::Own, false, config.user, config.group};
    const int sys = sys_mounts(config);
    if (config.network == Network::Local) {
      kind.network = ShellNetwork::Host;
    } else if (config.network == Network::Disabled && pool.pooled_network() && sys <= 1) {
      // (A second sys mount would need a second sysfs instance.)
      kind.network = ShellNetwork::Pooled;
      kind.sysfs = sys == 1;
    }
    return kind;
  }
};

Runtime::Runtime(std::filesystem::path scratch_dir, RuntimeOptions options) {
  std::filesystem::create_directories(scratch_dir / "root");
  impl_ = std::make_unique<Impl>(scratch_dir, options);
}

Runtime::~Runtime() = default;

std::optional<FileOwner> Runtime::tree_owner(const RuntimeOptions& options) {
  if (::geteuid() != 0) return std::nullopt;
  return FileOwner{options.job_host_uid, options.job_host_gid};
}

bool Runtime::enforces_memory_limits() const { return impl_->cgroups != nullptr; }

JobOutcome Runtime::run(const ContainerConfig& config, const CancelToken* cancel) {
  const auto start = Clock::now();
  JobOutcome outcome{JobError{JobErrorKind::System, ""}, {}};
  auto finish = [&](decltype(outcome.result) result) {
    outcome.result = std::move(result);
    outcome.effects.duration = Clock::now() - start;
    return outcome;
  };
  try {
    if (config.capture && ::geteuid() == 0) {
      // The job writes its changes as the unprivileged host id it runs as.
      for (const std::string& d : {config.capture->upper, config.capture->work})
        if (::chown(d.c_str(), impl_->job_owner.uid, impl_->job_owner.gid) != 0)
          throw_errno("chown " + d);
    }
    ShellKind kind = impl_->kind_for(config);
    // Prepared shells were cloned before the terminal existed: make one now.
    auto shell = config.terminal < 0 ? impl_->pool.take(kind) : impl_->pool.make_with_terminal(kind, config.terminal);
    // Whatever happens, the shell is destroyed on the pool's thread.
    struct Retire {
      ShellPool& pool;
      std::unique_ptr<ShellProcess>& shell;
      ~Retire() { pool.retire(std::move(shell)); }
    } retire{impl_->pool, shell};
    JobScript script(config, impl_->staging);
    // Hold the job's mount namespace (and sysfs mount) so that their teardown
    // (an RCU grace period) happens on the pool thread, not on the job's path.
    struct DisposeNs {
      ShellPool& pool;
      int fd;
      ~DisposeNs() { pool.dispose(fd); }
    } dispose_ns{impl_->pool, shell->take_mount_namespace()}, dispose_sysfs{impl_->pool, shell->take_sysfs()};
    JobCgroups::Job* cgroup = shell->cgroup();
    if (cgroup) cgroup->limit(config.limits.max_memory);
    shell->start(script.blob());

    // Running: collect output until the job has ended (the init reported, or
    // is gone) and its output is closed (by the init's end at the latest,
    // which ends every process of the container).
    std::optional<Clock::time_point> deadline;
    if (config.timeout) deadline = start + *config.timeout;
    bool exited = false, out_open = true, err_open = true, killed = false;
    bool timed_out = false, cancelled = false;
    while (!exited || out_open || err_open) {
      pollfd fds[4];
      int n = 0, i_report = -1, i_out = -1, i_err = -1, i_cancel = -1;
      if (!exited) fds[i_report = n++] = {shell->report_fd(), POLLIN, 0};
      if (out_open) fds[i_out = n++] = {shell->stdout_fd(), POLLIN, 0};
      if (err_open) fds[i_err = n++] = {shell->stderr_fd(), POLLIN, 0};
      if (cancel && !killed) fds[i_cancel = n++] = {cancel->fd(), POLLIN, 0};
      timespec ts{}, *tsp = nullptr;
      if (deadline && !killed) {
        auto left = std::max(Clock::duration::zero(), *deadline - Clock::now());
        auto s = std::chrono::duration_cast<std::chrono::seconds>(left);
        ts.tv_sec = s.count();
        ts.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(left - s).count();
        tsp = &ts;
      }
      int rc = ::ppoll(fds, static_cast<nfds_t>(n), tsp, nullptr);
      if (rc < 0) {
        if (errno == EINTR) continue;
        throw_errno("ppoll");
      }
      if (rc == 0) {
        timed_out = killed = true;
        kill_job(shell->pidfd());
        continue;
      }
      if (i_cancel >= 0 && fds[i_cancel].revents) {
        cancelled = killed = true;
        kill_job(shell->pidfd());
      }
      size_t got = 0;
      if (i_out >= 0 && fds[i_out].revents)
        out_open = drain(shell->stdout_fd(), outcome.effects.stdout_, config.inline_limit, &got);
      if (i_err >= 0 && fds[i_err].revents)
        err_open = drain(shell->stderr_fd(), outcome.effects.stderr_, config.inline_limit, &got);
      if (i_report >= 0 && fds[i_report].revents) exited = shell->read_report();
      if (got > 0 && got < kSmallRead && !exited) ::nanosleep(&kGatherPause, nullptr);
    }
    // The init reports how the job ended, or why it could not start it.
    child::Report report;
    const bool reported = shell->report(report);
    // Every process of the container is gone once the init is reaped (its end
    // ends them all): the host files the job wrote are complete then.
    if (reported && reaches_host(config)) shell->reap();
    if (cancelled) return finish(JobError{JobErrorKind::System, "job cancelled"});
    if (timed_out) return finish(TimedOut{});
    if (!reported) {
      const siginfo_t info = shell->reap();
      return finish(JobError{JobErrorKind::System,
                             "the container's init ended without a report (" +
                                 std::string(info.si_code == CLD_EXITED ? "exit code " : "signal ") +
                                 std::to_string(info.si_status) + ")"});
    }
    if (report.step != child::Step::Ended) return finish(script.error(report));
    if (report.err == CLD_EXITED) return finish(Exited{report.index});
    if (report.index == SIGKILL && cgroup && config.limits.max_memory && cgroup->oom_killed())
      return finish(JobError{JobErrorKind::Execution, "the job reached its memory limit (" +
                                                          std::to_string(config.limits.max_memory) +
                                                          " bytes) and was killed"});
    return finish(Signaled{report.index});
  } catch (const std::exception& e) {
    return finish(JobError{JobErrorKind::System, std::string("container runtime: ") + e.what()});
  }
}

}  // namespace mael
