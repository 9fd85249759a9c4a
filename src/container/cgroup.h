#pragma once
// Memory limits for jobs: a cgroup of their own under ours, where we may make
// one (as root with the cgroup v1 memory controller, or cgroup v2 where our
// cgroup already hands the memory controller to its children, as a delegated
// one does). A container's init is placed in one before it starts anything,
// so every process of the container is too, and the job cannot leave it (its
// user namespace has no say over our cgroups); the limit is set when the job
// is known.
#include <cstdint>
#include <filesystem>
#include <memory>
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

  // One job's cgroup; removed when this goes (the processes must be gone).
  class Job {
   public:
    Job(Job&& o) noexcept : owner_(o.owner_), dir_(std::move(o.dir_)) { o.dir_.clear(); }
    Job& operator=(Job&&) = delete;
    ~Job();
    // Sets the memory limit (0: none). Throws std::system_error on failure.
    void limit(uint64_t max_memory) const;
    // Whether the kernel killed a process of the job for reaching the limit.
    bool oom_killed() const;
    const std::filesystem::path& dir() const { return dir_; }

   private:
    friend class JobCgroups;
    Job(const JobCgroups* owner, std::filesystem::path dir) : owner_(owner), dir_(std::move(dir)) {}
    const JobCgroups* owner_;
    std::filesystem::path dir_;
  };
  // Makes a cgroup (without a limit yet) and moves process pid into it.
  // Throws std::system_error on failure.
  Job place(int pid) const;

  int version() const { return version_; }
  const std::filesystem::path& parent() const { return parent_; }

 private:
  std::filesystem::path parent_;
  int version_;
};

}  // namespace mael
