#pragma once
// The broker's scheduler: pure bookkeeping, no threads and no I/O, so every
// rule can be unit-tested. The broker calls it under one lock and it answers
// through a SchedulerSink (messages to send).
//
// Written by hand (no library does this):
// - one queue of jobs whose layers the broker holds, ordered by highest
//   priority, then longest estimated duration (unknown counts as longest), then
//   submission order;
// - each worker holds up to 2 x slots jobs so it can fetch layers for the next
//   ones while the current ones run; a job goes to the least-loaded worker
//   (fewest assigned jobs per slot);
// - a job whose layers are missing waits while one client uploads each missing
//   blob (one upload per digest, however many jobs or clients need it);
// - every layer a live job (waiting, queued or on a worker) holds is pinned in
//   the broker's store until the job ends, so a small cache under load never
//   evicts a blob a job still needs (a worker may have to fetch it any time);
// - a job with bind mounts or network = "local" goes only to a worker whose
//   configuration allows it (cluster/local_features.h), from a queue of its own;
// - a worker that vanishes has its jobs queued again; a job lost on more than
//   max_losses workers ends with a System error; a client that vanishes has its
//   queued jobs dropped and its assigned jobs cancelled on their workers.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/local_features.h"
#include "spec/spec.h"

namespace mael::cluster {

using ClientId = uint64_t;
using WorkerId = uint64_t;
using ClientJobId = uint64_t;
using BrokerJobId = uint64_t;

class SchedulerSink {
 public:
  virtual ~SchedulerSink() = default;
  virtual void enqueue_on_worker(WorkerId w, BrokerJobId j, const ResolvedJob& job) = 0;
  virtual void cancel_on_worker(WorkerId w, BrokerJobId j) = 0;
  // worker is set when state is Running.
  virtual void job_state(ClientId c, ClientJobId j, JobState state, std::optional<WorkerId> worker) = 0;
  virtual void job_done(ClientId c, ClientJobId j, const JobOutcome& outcome) = 0;
  virtual void request_artifact(ClientId c, const Digest& d) = 0;
};

// The broker's store as the scheduler sees it. pin: when the blob is present,
// protect it from eviction and return true; false when absent. unpin releases
// one successful pin.
struct BlobPins {
  std::function<bool(const Digest&)> pin;
  std::function<void(const Digest&)> unpin;
};

struct SchedulerOptions {
  int max_losses = 3;
  size_t jobs_per_slot = 2;
};

struct SchedulerStats {
  struct Worker {
    WorkerId id;
    size_t slots;
    size_t assigned;  // jobs sent to it and not done
    size_t running;   // of those, reported running
  };
  std::vector<Worker> workers;
  struct Client {
    ClientId id;
    size_t waiting_for_artifacts = 0, queued = 0, assigned = 0, running = 0;
    uint64_t completed = 0;  // since it connected
  };
  std::vector<Client> per_client;
  size_t clients = 0;
  size_t waiting_for_artifacts = 0;
  size_t queued = 0;    // pending at the broker
  size_t assigned = 0;  // on workers, not yet running
  size_t running = 0;
  uint64_t completed = 0;  // since start
};

class Scheduler {
 public:
  Scheduler(SchedulerSink& sink, BlobPins blobs, SchedulerOptions options = {});
  ~Scheduler();  // releases every pin it holds
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void add_client(ClientId c);
  void remove_client(ClientId c);
  void add_worker(WorkerId w, size_t slots, WorkerFeatures features = {});
  void remove_worker(WorkerId w);

  void submit(ClientId c, ClientJobId j, ResolvedJob job);
  // Fails a job at once (e.g. malformed), through the same path as outcomes.
  void reject(ClientId c, ClientJobId j, const std::string& message);
  void cancel(ClientId c, ClientJobId j);
  // Ends every queued job (none of them on a worker) with a System error.
  void fail_queued(const std::string& why);
  // Queued jobs with bind mounts or network = "local" that no connected worker runs: each is
  // noted at the first call that finds it so, and ends with a System error saying `why` once it
  // has stayed so for `timeout`.
  void fail_unplaceable(std::chrono::steady_clock::time_point now, std::chrono::milliseconds timeout,
                        const std::string& why);

  // The blob is now in the store.
  void artifact_ready(const Digest& d);
  // The client could not provide the blob (or sent wrong bytes): its jobs that
  // need it fail with `why`; another client that needs it is asked instead.
  void artifact_failed(ClientId c, const Digest& d, const std::string& why);
  // Whether the broker asked client c for d and still waits for it.
  bool artifact_expected(ClientId c, const Digest& d) const;
  // Whether some job of client c has all its layers (queued, or on a worker): one that will end
  // and release what it holds.
  bool client_has_runnable_jobs(ClientId c) const;
  // Whether the first job of client c (in submission order) that still waits for layers needs d.
  bool first_waiting_job_needs(ClientId c, const Digest& d) const;

  void job_running(WorkerId w, BrokerJobId j);
  void job_done(WorkerId w, BrokerJobId j, JobOutcome outcome);

  SchedulerStats stats() const;
  std::vector<ClientId> clients() const;
  std::vector<WorkerId> workers() const;
  // Blobs pinned for live jobs (for tests and the status page).
  size_t pinned_blobs() const { return held_.size(); }
  // Whether a live job holds this blob.
  bool holds(const Digest& d) const { return held_.count(d) != 0; }

 private:
  struct Job {
    BrokerJobId id;
    ClientId client;
    ClientJobId client_job;
    uint64_t seq;
    ResolvedJob spec;
    std::set<Digest> missing;
    std::vector<Digest> held;  // pinned for this job
    std::optional<WorkerId> worker;
    bool running = false;
    bool local = false;  // needs a worker's local-only features
    std::optional<std::chrono::steady_clock::time_point> unplaceable_since;  // local: no worker runs it
    int losses = 0;
  };
  struct QueueKey {
    int32_t priority;
    int64_t estimate;  // ms; unknown = INT64_MAX
    uint64_t seq;
    BrokerJobId id;
    bool operator<(const QueueKey& o) const;  // "runs sooner"
  };
  struct WorkerState {
    size_t slots;
    WorkerFeatures features;
    std::set<BrokerJobId> jobs;
    size_t running = 0;
  };
  struct Artifact {
    std::set<BrokerJobId> waiting;
    std::optional<ClientId> uploader;
  };

  QueueKey key(const Job& j) const;
  void enqueue(Job& j);
  std::set<QueueKey>& queue_of(const Job& j) { return j.local ? local_queue_ : queue_; }
  // The least-loaded worker with room that runs j, or workers_.end().
  std::map<WorkerId, WorkerState>::iterator best_worker(const Job& j);
  void dispatch();
  void finish(BrokerJobId id, const JobOutcome& outcome);
  void forget(BrokerJobId id);  // removes every trace of a job
  void choose_uploader(const Digest& d, Artifact& a);
  bool hold(Job& j, const Digest& d);  // pins d for j if present
  void release(const Digest& d);

  SchedulerSink& sink_;
  BlobPins blobs_;
  SchedulerOptions options_;
  std::map<BrokerJobId, Job> jobs_;
  std::map<std::pair<ClientId, ClientJobId>, BrokerJobId> by_client_;
  std::set<ClientId> clients_;
  std::map<WorkerId, WorkerState> workers_;
  std::set<QueueKey> queue_;
  std::set<QueueKey> local_queue_;  // jobs only some workers run
  std::map<Digest, Artifact> artifacts_;
  std::map<Digest, size_t> held_;  // pinned digest -> live jobs holding it
  BrokerJobId next_id_ = 1;
  uint64_t next_seq_ = 0;
  uint64_t completed_ = 0;
  std::map<ClientId, uint64_t> completed_by_client_;
};

}  // namespace mael::cluster
