#include "cluster/scheduler.h"

#include <algorithm>
#include <climits>

#include "base/format.h"

namespace mael::cluster {

namespace {

JobOutcome system_error(std::string message) {
  return JobOutcome{JobError{JobErrorKind::System, std::move(message)}, {}};
}

}  // namespace

bool Scheduler::QueueKey::operator<(const QueueKey& o) const {
  if (priority != o.priority) return priority > o.priority;
  if (estimate != o.estimate) return estimate > o.estimate;
  if (seq != o.seq) return seq < o.seq;
  return id < o.id;
}

Scheduler::Scheduler(SchedulerSink& sink, BlobPins blobs, SchedulerOptions options)
    : sink_(sink), blobs_(std::move(blobs)), options_(options) {}

Scheduler::~Scheduler() {
  for (const auto& [d, n] : held_) blobs_.unpin(d);
}

bool Scheduler::hold(Job& j, const Digest& d) {
  auto it = held_.find(d);
  if (it == held_.end()) {
    if (!blobs_.pin(d)) return false;
    it = held_.emplace(d, 0).first;
  }
  ++it->second;
  j.held.push_back(d);
  return true;
}

void Scheduler::release(const Digest& d) {
  auto it = held_.find(d);
  if (it == held_.end()) return;
  if (--it->second == 0) {
    held_.erase(it);
    blobs_.unpin(d);
  }
}

Scheduler::QueueKey Scheduler::key(const Job& j) const {
  return QueueKey{j.spec.priority, j.spec.estimated_duration ? j.spec.estimated_duration->count() : INT64_MAX,
                  j.seq, j.id};
}

void Scheduler::add_client(ClientId c) {
  clients_.insert(c);
}

void Scheduler::remove_client(ClientId c) {
  clients_.erase(c);
  completed_by_client_.erase(c);
  std::vector<BrokerJobId> ids;
  for (auto it = by_client_.lower_bound({c, 0}); it != by_client_.end() && it->first.first == c; ++it)
    ids.push_back(it->second);
  // Jobs not yet running first: a worker drops those before the running
  // ones' slots free up, so none of them starts in between.
  std::stable_partition(ids.begin(), ids.end(), [&](BrokerJobId id) { return !jobs_.at(id).running; });
  for (BrokerJobId id : ids) {
    Job& j = jobs_.at(id);
    if (j.worker) sink_.cancel_on_worker(*j.worker, id);
    forget(id);
  }
  // Blobs this client was uploading: ask another client that needs them.
  for (auto& [d, a] : artifacts_)
    if (a.uploader == c) {
      a.uploader.reset();
      choose_uploader(d, a);
    }
  std::erase_if(artifacts_, [](const auto& kv) { return kv.second.waiting.empty(); });
  dispatch();
}

void Scheduler::add_worker(WorkerId w, size_t slots, WorkerFeatures features) {
  workers_[w] = WorkerState{std::max<size_t>(slots, 1), std::move(features), {}, 0};
  dispatch();
}

void Scheduler::remove_worker(WorkerId w) {
  auto it = workers_.find(w);
  if (it == workers_.end()) return;
  std::set<BrokerJobId> lost = std::move(it->second.jobs);
  workers_.erase(it);
  for (BrokerJobId id : lost) {
    Job& j = jobs_.at(id);
    j.worker.reset();
    j.running = false;
    if (++j.losses > options_.max_losses) {
      finish(id,
             system_error(mael::format(
                 "job lost: {} workers disconnected while holding it; giving up (check the workers' logs)",
                 j.losses)));
      continue;
    }
    sink_.job_state(j.client, j.client_job, JobState::Pending, std::nullopt);
    queue_of(j).insert(key(j));
  }
  dispatch();
}

void Scheduler::submit(ClientId c, ClientJobId cj, ResolvedJob spec) {
  if (!clients_.count(c)) return;
  if (by_client_.count({c, cj})) {
    sink_.job_done(c, cj, system_error(mael::format("duplicate job id {} from client", cj)));
    return;
  }
  BrokerJobId id = next_id_++;
  Job& j = jobs_[id];
  j.id = id;
  j.client = c;
  j.client_job = cj;
  j.seq = next_seq_++;
  j.spec = std::move(spec);
  j.local = j.spec.must_run_locally();
  by_client_[{c, cj}] = id;
  for (const Digest& d : std::set<Digest>(j.spec.layers.begin(), j.spec.layers.end()))
    if (!hold(j, d)) j.missing.insert(d);
  if (j.missing.empty()) {
    enqueue(j);
    dispatch();
    return;
  }
  sink_.job_state(c, cj, JobState::WaitingForArtifacts, std::nullopt);
  for (const Digest& d : j.missing) {
    Artifact& a = artifacts_[d];
    a.waiting.insert(id);
    if (!a.uploader) choose_uploader(d, a);
  }
}

void Scheduler::reject(ClientId c, ClientJobId cj, const std::string& message) {
  sink_.job_done(c, cj, system_error(message));
  ++completed_;
  if (clients_.count(c)) ++completed_by_client_[c];
}

void Scheduler::fail_queued(const std::string& why) {
  std::vector<BrokerJobId> ids;
  for (const auto* q : {&queue_, &local_queue_})
    for (const QueueKey& k : *q) ids.push_back(k.id);
  for (BrokerJobId id : ids) finish(id, system_error(why));
}

void Scheduler::fail_unplaceable(std::chrono::steady_clock::time_point now, std::chrono::milliseconds timeout,
                                 const std::string& why) {
  std::vector<BrokerJobId> expired;
  for (const QueueKey& k : local_queue_) {
    Job& j = jobs_.at(k.id);
    bool placeable = std::any_of(workers_.begin(), workers_.end(), [&](const auto& w) {
      return !local_features_refusal(j.spec, w.second.features, "", false);
    });
    if (placeable) {
      j.unplaceable_since.reset();
      continue;
    }
    if (!j.unplaceable_since) j.unplaceable_since = now;
    if (now - *j.unplaceable_since >= timeout) expired.push_back(j.id);
  }
  for (BrokerJobId id : expired) finish(id, system_error(why));
}

void Scheduler::cancel(ClientId c, ClientJobId cj) {
  auto it = by_client_.find({c, cj});
  if (it == by_client_.end()) return;
  BrokerJobId id = it->second;
  Job& j = jobs_.at(id);
  if (j.worker) {
    // The worker answers with the job's (cancelled) outcome.
    sink_.cancel_on_worker(*j.worker, id);
    return;
  }
  finish(id, system_error("job cancelled"));
}

void Scheduler::choose_uploader(const Digest& d, Artifact& a) {
  for (BrokerJobId id : a.waiting) {
    ClientId c = jobs_.at(id).client;
    if (clients_.count(c)) {
      a.uploader = c;
      sink_.request_artifact(c, d);
      return;
    }
  }
}

void Scheduler::artifact_ready(const Digest& d) {
  auto it = artifacts_.find(d);
  if (it == artifacts_.end()) return;
  Artifact& a = it->second;
  std::vector<Job*> ready;
  for (BrokerJobId id : a.waiting) {
    Job& j = jobs_.at(id);
    if (!hold(j, d)) {
      // Evicted again before we could pin it (only under heavy churn of a
      // tiny cache): ask for it once more.
      a.uploader.reset();
      choose_uploader(d, a);
      return;
    }
    j.missing.erase(d);
    if (j.missing.empty()) ready.push_back(&j);
  }
  artifacts_.erase(it);
  for (Job* j : ready) enqueue(*j);
  dispatch();
}

void Scheduler::artifact_failed(ClientId c, const Digest& d, const std::string& why) {
  auto it = artifacts_.find(d);
  if (it == artifacts_.end()) return;
  Artifact& a = it->second;
  std::vector<BrokerJobId> failed;
  for (BrokerJobId id : a.waiting)
    if (jobs_.at(id).client == c) failed.push_back(id);
  for (BrokerJobId id : failed) finish(id, system_error(why));  // also drops id from a.waiting
  it = artifacts_.find(d);
  if (it == artifacts_.end()) return;
  if (it->second.uploader == c) {
    it->second.uploader.reset();
    choose_uploader(d, it->second);
  }
}

bool Scheduler::artifact_expected(ClientId c, const Digest& d) const {
  auto it = artifacts_.find(d);
  return it != artifacts_.end() && it->second.uploader == c;
}

bool Scheduler::client_has_runnable_jobs(ClientId c) const {
  for (auto it = by_client_.lower_bound({c, 0}); it != by_client_.end() && it->first.first == c; ++it)
    if (jobs_.at(it->second).missing.empty()) return true;
  return false;
}

bool Scheduler::first_waiting_job_needs(ClientId c, const Digest& d) const {
  for (auto it = by_client_.lower_bound({c, 0}); it != by_client_.end() && it->first.first == c; ++it) {
    const Job& j = jobs_.at(it->second);
    if (!j.missing.empty()) return j.missing.count(d) > 0;
  }
  return false;
}

void Scheduler::enqueue(Job& j) {
  sink_.job_state(j.client, j.client_job, JobState::Pending, std::nullopt);
  queue_of(j).insert(key(j));
}

std::map<WorkerId, Scheduler::WorkerState>::iterator Scheduler::best_worker(const Job& j) {
  // Least-loaded worker with room: fewest assigned jobs per slot.
  auto best = workers_.end();
  for (auto it = workers_.begin(); it != workers_.end(); ++it) {
    const WorkerState& w = it->second;
    if (w.jobs.size() >= options_.jobs_per_slot * w.slots) continue;
    if (best != workers_.end() && w.jobs.size() * best->second.slots >= best->second.jobs.size() * w.slots)
      continue;
    if (j.local && local_features_refusal(j.spec, w.features, "", false)) continue;
    best = it;
  }
  return best;
}

void Scheduler::dispatch() {
  for (;;) {
    // The head of each queue, with the worker it would go to; the one that runs sooner goes.
    auto head = [&](std::set<QueueKey>& q) -> std::pair<Job*, std::map<WorkerId, WorkerState>::iterator> {
      if (q.empty()) return {nullptr, workers_.end()};
      Job& j = jobs_.at(q.begin()->id);
      return {&j, best_worker(j)};
    };
    auto [plain, plain_worker] = head(queue_);
    auto [local, local_worker] = head(local_queue_);
    bool plain_ok = plain && plain_worker != workers_.end();
    bool local_ok = local && local_worker != workers_.end();
    if (!plain_ok && !local_ok) return;
    bool take_plain = plain_ok && (!local_ok || *queue_.begin() < *local_queue_.begin());
    Job& j = take_plain ? *plain : *local;
    auto w = take_plain ? plain_worker : local_worker;
    queue_of(j).erase(queue_of(j).begin());
    j.worker = w->first;
    w->second.jobs.insert(j.id);
    sink_.enqueue_on_worker(w->first, j.id, j.spec);
  }
}

void Scheduler::job_running(WorkerId w, BrokerJobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.worker != w || it->second.running) return;
  it->second.running = true;
  workers_.at(w).running++;
  sink_.job_state(it->second.client, it->second.client_job, JobState::Running, w);
}

void Scheduler::job_done(WorkerId w, BrokerJobId id, JobOutcome outcome) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.worker != w) return;  // stale: the job moved on
  finish(id, outcome);
  dispatch();
}

void Scheduler::finish(BrokerJobId id, const JobOutcome& outcome) {
  Job& j = jobs_.at(id);
  sink_.job_state(j.client, j.client_job, JobState::Completed, std::nullopt);
  sink_.job_done(j.client, j.client_job, outcome);
  ++completed_;
  if (clients_.count(j.client)) ++completed_by_client_[j.client];
  forget(id);
}

void Scheduler::forget(BrokerJobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& j = it->second;
  queue_of(j).erase(key(j));
  if (j.worker) {
    auto& w = workers_.at(*j.worker);
    w.jobs.erase(id);
    if (j.running) w.running--;
  }
  for (const Digest& d : j.missing) {
    auto at = artifacts_.find(d);
    if (at == artifacts_.end()) continue;
    at->second.waiting.erase(id);
    if (at->second.waiting.empty()) artifacts_.erase(at);
  }
  for (const Digest& d : j.held) release(d);
  by_client_.erase({j.client, j.client_job});
  jobs_.erase(it);
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.clients = clients_.size();
  s.queued = queue_.size() + local_queue_.size();
  s.completed = completed_;
  for (const auto& [id, w] : workers_) {
    s.workers.push_back({id, w.slots, w.jobs.size(), w.running});
    s.running += w.running;
    s.assigned += w.jobs.size() - w.running;
  }
  std::map<ClientId, SchedulerStats::Client> per_client;
  for (ClientId c : clients_) {
    auto& pc = per_client[c];
    pc.id = c;
    if (auto it = completed_by_client_.find(c); it != completed_by_client_.end()) pc.completed = it->second;
  }
  for (const auto& [id, j] : jobs_) {
    if (!j.missing.empty()) s.waiting_for_artifacts++;
    auto pc = per_client.find(j.client);
    if (pc == per_client.end()) continue;
    if (!j.missing.empty())
      pc->second.waiting_for_artifacts++;
    else if (!j.worker)
      pc->second.queued++;
    else if (j.running)
      pc->second.running++;
    else
      pc->second.assigned++;
  }
  for (auto& [c, pc] : per_client) s.per_client.push_back(pc);
  return s;
}

std::vector<ClientId> Scheduler::clients() const {
  return {clients_.begin(), clients_.end()};
}

std::vector<WorkerId> Scheduler::workers() const {
  std::vector<WorkerId> v;
  for (const auto& [id, w] : workers_) v.push_back(id);
  return v;
}

}  // namespace mael::cluster
