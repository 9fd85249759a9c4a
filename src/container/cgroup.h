#pragma once
// Memory limits for jobs: a cgroup of their own under ours, where we may make
// one (as root with the cgroup v1 memory controller, or cgroup v2 where our
// cgroup already hands the memory controller to its children, as a delegated
// one does). A container's first process is in one before it starts
// anything, so every process of the container is too, and the job cannot
// leave it (its user namespace has no say over our cgroups); the limit is set
// when the job is known. Making and removing a memory cgroup costs more than a
// container (a third of a millisecond here): a cgroup whose container is gone
// is kept and given to the next one. Moving a process into a cgroup takes a
// lock every fork and exit of the machine takes too, and may wait for an RCU
// grace period (10 ms on a quiet machine here): with cgroup v1 the container's
// first process joins by itself instead (see Job::join_fd), which does not.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace mael {

class JobCgroups {
 public:
  // Where job cgroups can be made, or nullptr when nowhere (not root, no
  // delegation): memory limits are then not enforced.
  static std::unique_ptr<JobCgroups> detect();
  // For tests: job cgroups under `parent`, of cgroup version 1 or 2.
  JobCgroups(std::filesystem::path parent, int version);

  ~JobCgroups();  // removes the cgroups kept for reuse
  JobCgroups(const JobCgroups&) = delete;
  JobCgroups& operator=(const JobCgroups&) = delete;

  // One container's cgroup; given back for reuse when this goes (the
  // container's processes must be gone by then).
  class Job {
   public:
    Job(Job&& o) noexcept : owner_(o.owner_), slot_(o.slot_) { o.owner_ = nullptr; }
    Job& operator=(Job&&) = delete;
    ~Job();
    // Sets the memory limit (0: none); nothing to write when the cgroup has
    // it already. Throws std::system_error on failure.
    void limit(uint64_t max_memory);
    // Whether the kernel killed a process of the cgroup for reaching its
    // limit since take().
    bool oom_killed() const;
    const std::filesystem::path& dir() const;
    // cgroup v1: a descriptor (close-on-exec, opened by us) of the cgroup's
    // `tasks` file; a process of one thread that writes "0" to it joins the
    // cgroup (the permission is the opener's). -1 elsewhere: use add().
    int join_fd() const;
    // Moves process pid into the cgroup. Throws std::system_error on failure.
    void add(int pid);

   private:
    friend class JobCgroups;
    Job(JobCgroups* owner, void* slot) : owner_(owner), slot_(slot) {}
    JobCgroups* owner_;
    void* slot_;  // a JobCgroups::Slot, ours while in use
  };
  // A cgroup for a container (made, or one whose container is gone), with
  // no process in it yet. Throws std::system_error on failure.
  Job take();

  int version() const { return version_; }
  const std::filesystem::path& parent() const { return parent_; }

 private:
  struct Slot {
    std::filesystem::path dir;
    std::optional<uint64_t> limit;  // as last written
    uint64_t oom_kills = 0;         // the kernel's count when the container took it
    bool in_use = false;
    int tasks = -1;  // v1: its `tasks` file, open for writing (see Job::join_fd)
  };
  uint64_t read_oom_kills(const std::filesystem::path& dir) const;

  std::filesystem::path parent_;
  int version_;
  std::mutex mu_;
  std::deque<Slot> slots_;  // under mu_ (a deque: references stay valid as it grows)
};

}  // namespace mael
