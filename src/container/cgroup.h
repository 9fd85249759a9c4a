#pragma once
// Memory limits for jobs: a cgroup of their own under ours, where we may make
// one (as root with the cgroup v1 memory controller, or cgroup v2 where our
// cgroup already hands the memory controller to its children, as a delegated
// one does). A container's init is placed in one before it starts anything,
// so every process of the container is too, and the job cannot leave it (its
// user namespace has no say over our cgroups); the limit is set when the job
// is known. Making and removing a memory cgroup costs more than a container
// (a third of a millisecond here): a cgroup whose container is gone is kept
// and given to the next one.
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
    // limit since place().
    bool oom_killed() const;
    const std::filesystem::path& dir() const;

   private:
    friend class JobCgroups;
    Job(JobCgroups* owner, void* slot) : owner_(owner), slot_(slot) {}
    JobCgroups* owner_;
    void* slot_;  // a JobCgroups::Slot, ours while in use
  };
  // A cgroup (made, or one whose container is gone) with process pid moved
  // into it. Throws std::system_error on failure.
  Job place(int pid);

  int version() const { return version_; }
  const std::filesystem::path& parent() const { return parent_; }

 private:
  struct Slot {
    std::filesystem::path dir;
    std::optional<uint64_t> limit;  // as last written
    uint64_t oom_kills = 0;         // the kernel's count when the container was placed
    bool in_use = false;
  };
  uint64_t read_oom_kills(const std::filesystem::path& dir) const;

  std::filesystem::path parent_;
  int version_;
  std::mutex mu_;
  std::deque<Slot> slots_;  // under mu_ (a deque: references stay valid as it grows)
};

}  // namespace mael
