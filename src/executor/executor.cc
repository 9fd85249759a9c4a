#include "executor/executor.h"

#include <algorithm>
#include <thread>

#include "base/error.h"
#include "container/runtime.h"
#include "store/artifact_store.h"

namespace mael {

struct LocalExecutor::Job {
  JobId id;
  uint64_t seq;
  ResolvedJob spec;
  StateCallback on_state;
  DoneCallback on_done;
  CancelToken cancel;
  bool cancelled = false;
};

// std heaps put the greatest element first: "greater" here means "runs sooner".
bool LocalExecutor::Order::operator()(const std::shared_ptr<Job>& a, const std::shared_ptr<Job>& b) const {
  if (a->spec.priority != b->spec.priority) return a->spec.priority < b->spec.priority;
  auto est = [](const Job& j) {
    return j.spec.estimated_duration ? j.spec.estimated_duration->count() : INT64_MAX;
  };
  if (est(*a) != est(*b)) return est(*a) < est(*b);
  return a->seq > b->seq;
}

LocalExecutor::LocalExecutor(ArtifactStore& store, ContainerRunner runner, ExecutorOptions options)
    : store_(store), runner_(std::move(runner)), options_(options) {
  slots_ = options.slots ? options.slots : std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < slots_; ++i) threads_.emplace_back([this] { slot_loop(); });
}

LocalExecutor::~LocalExecutor() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cancel_all();
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

JobId LocalExecutor::submit(ResolvedJob spec, StateCallback on_state, DoneCallback on_done) {
  auto job = std::make_shared<Job>();
  job->spec = std::move(spec);
  job->on_state = std::move(on_state);
  job->on_done = std::move(on_done);
  {
    std::lock_guard lk(mu_);
    job->id = next_id_++;
    job->seq = next_seq_++;
    queue_.push_back(job);
    std::push_heap(queue_.begin(), queue_.end(), Order{});
  }
  if (job->on_state) job->on_state(JobState::Pending);
  cv_.notify_one();
  return job->id;
}

static JobOutcome cancelled_outcome() {
  return JobOutcome{JobError{JobErrorKind::System, "job cancelled"}, {}};
}

void LocalExecutor::cancel(JobId id) {
  std::shared_ptr<Job> dropped;
  {
    std::lock_guard lk(mu_);
    if (auto it = running_.find(id); it != running_.end()) {
      it->second->cancelled = true;
      it->second->cancel.cancel();
      return;
    }
    auto it = std::find_if(queue_.begin(), queue_.end(), [&](auto& j) { return j->id == id; });
    if (it == queue_.end()) return;
    dropped = *it;
    queue_.erase(it);
    std::make_heap(queue_.begin(), queue_.end(), Order{});
  }
  if (dropped->on_done) dropped->on_done(cancelled_outcome());
  idle_cv_.notify_all();
}

void LocalExecutor::cancel_all() {
  std::vector<std::shared_ptr<Job>> dropped;
  {
    std::lock_guard lk(mu_);
    dropped.swap(queue_);
    for (auto& [id, job] : running_) {
      job->cancelled = true;
      job->cancel.cancel();
    }
  }
  for (auto& j : dropped)
    if (j->on_done) j->on_done(cancelled_outcome());
  idle_cv_.notify_all();
}

void LocalExecutor::wait_idle() {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return queue_.empty() && running_.empty(); });
}

size_t LocalExecutor::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

size_t LocalExecutor::running() const {
  std::lock_guard lk(mu_);
  return running_.size();
}

void LocalExecutor::slot_loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      std::pop_heap(queue_.begin(), queue_.end(), Order{});
      job = std::move(queue_.back());
      queue_.pop_back();
      running_[job->id] = job;
    }
    run_one(job);
    {
      std::lock_guard lk(mu_);
      running_.erase(job->id);
    }
    idle_cv_.notify_all();
  }
}

ContainerLimits effective_limits(const ContainerLimits& configured, const JobLimits& asked) {
  // 0 configured means no limit: then the job's own applies.
  auto lower = [](uint64_t configured, const std::optional<uint64_t>& asked) {
    if (!asked) return configured;
    return configured == 0 ? *asked : std::min(configured, *asked);
  };
  ContainerLimits l = configured;
  l.max_processes = lower(configured.max_processes, asked.max_processes);
  l.max_memory = lower(configured.max_memory, asked.max_memory);
  l.max_tmpfs_size = lower(configured.max_tmpfs_size, asked.max_tmpfs_size);
  return l;
}

void LocalExecutor::run_one(const std::shared_ptr<Job>& job) {
  const ResolvedJob& s = job->spec;
  JobOutcome outcome;
  try {
    // Pin every layer's extracted tree for the job's lifetime.
    std::vector<ArtifactStore::TreeRef> trees;
    trees.reserve(s.layers.size());
    ContainerConfig c;
    for (const Digest& d : s.layers) {
      trees.push_back(store_.tree(d));
      c.lower_dirs.push_back(trees.back().path());
    }
    c.enable_writable_file_system = s.enable_writable_file_system;
    c.capture = s.capture_file_system_changes;
    c.tty = s.allocate_tty;
    c.mounts = s.mounts;
    c.network = s.network;
    c.program = s.program;
    c.arguments = s.arguments;
    c.environment = s.environment;
    c.working_directory = s.working_directory;
    c.user = s.user;
    c.group = s.group;
    c.timeout = s.timeout;
    c.inline_limit = options_.inline_limit;
    c.limits = effective_limits(options_.limits, s.limits);
    if (job->on_state) job->on_state(JobState::Running);
    outcome = runner_(c, &job->cancel);
  } catch (const std::exception& e) {
    outcome = JobOutcome{JobError{JobErrorKind::System, e.what()}, {}};
  }
  if (job->cancelled && !std::holds_alternative<JobError>(outcome.result))
    outcome.result = JobError{JobErrorKind::System, "job cancelled"};
  if (job->on_state) job->on_state(JobState::Completed);
  if (job->on_done) job->on_done(std::move(outcome));
}

}  // namespace mael
