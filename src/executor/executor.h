#pragma once
// The local executor: runs ResolvedJobs on N slots. The same code serves the
// client's standalone mode and maelstrom-worker. Jobs wait in one queue ordered
// by priority, then longest estimated duration first (unknown counts as
// longest), then submission order.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "container/runtime.h"
#include "spec/spec.h"

namespace mael {

class ArtifactStore;

using JobId = uint64_t;

struct ExecutorOptions {
  size_t slots = 0;                // 0: number of CPUs
  size_t inline_limit = 1 << 20;   // bytes of stdout/stderr kept per stream
  ContainerLimits limits = ContainerLimits::defaults();  // every job's (a job may ask for less)
};

// A job's limits: the configured ones, each lowered by what the job asks for.
ContainerLimits effective_limits(const ContainerLimits& configured, const JobLimits& asked);

// Runs one container to completion; the real one is Runtime::run. Tests may
// pass another to check scheduling without containers.
using ContainerRunner = std::function<JobOutcome(const ContainerConfig&, const CancelToken*)>;

class LocalExecutor {
 public:
  using StateCallback = std::function<void(JobState)>;
  using DoneCallback = std::function<void(JobOutcome)>;

  // Every layer digest of a submitted job must already be a blob in `store`.
  LocalExecutor(ArtifactStore& store, ContainerRunner runner, ExecutorOptions options);
  ~LocalExecutor();  // cancels running jobs, drops queued ones, joins the slots
  LocalExecutor(const LocalExecutor&) = delete;
  LocalExecutor& operator=(const LocalExecutor&) = delete;

  // Queues a job. Callbacks run on executor threads; on_done is called exactly
  // once (with a System error if the job was cancelled before it ran).
  JobId submit(ResolvedJob job, StateCallback on_state, DoneCallback on_done);

  // Kills a running job (its outcome arrives through on_done) or drops a queued one.
  void cancel(JobId id);
  void cancel_all();
  // Blocks until the queue is empty and no job is running.
  void wait_idle();

  size_t slots() const { return slots_; }
  size_t queued() const;
  size_t running() const;

 private:
  struct Job;
  struct Order {
    bool operator()(const std::shared_ptr<Job>& a, const std::shared_ptr<Job>& b) const;
  };
  void slot_loop();
  void run_one(const std::shared_ptr<Job>& job);

  ArtifactStore& store_;
  ContainerRunner runner_;
  ExecutorOptions options_;
  size_t slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // queue changed or stopping
  std::condition_variable idle_cv_;  // a job finished
  std::vector<std::shared_ptr<Job>> queue_;  // heap by Order
  std::map<JobId, std::shared_ptr<Job>> running_;
  JobId next_id_ = 1;
  uint64_t next_seq_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mael
