#include "cluster/scheduler.h"

#include <gtest/gtest.h>

#include <set>

#include "base/format.h"

namespace mael::cluster {
namespace {

// Records every message the scheduler sends, as short strings.
struct Recorder : SchedulerSink {
  std::vector<std::string> events;
  std::map<BrokerJobId, WorkerId> on_worker;  // enqueued and not cancelled
  std::map<ClientJobId, JobOutcome> outcomes;
  std::vector<std::pair<BrokerJobId, ResolvedJob>> enqueued;

  void enqueue_on_worker(WorkerId w, BrokerJobId j, const ResolvedJob& job) override {
    events.push_back(mael::format("enqueue w{} j{}", w, j));
    on_worker[j] = w;
    enqueued.emplace_back(j, job);
  }
  void cancel_on_worker(WorkerId w, BrokerJobId j) override {
    events.push_back(mael::format("cancel w{} j{}", w, j));
  }
  void job_state(ClientId c, ClientJobId j, JobState s, std::optional<WorkerId> w) override {
    events.push_back(
        mael::format("state c{} j{} {}{}", c, j, static_cast<int>(s), w ? mael::format(" w{}", *w) : ""));
  }
  void job_done(ClientId c, ClientJobId j, const JobOutcome& o) override {
    events.push_back(mael::format("done c{} j{}", c, j));
    outcomes[j] = o;
  }
  void request_artifact(ClientId c, const Digest& d) override {
    events.push_back(mael::format("request c{} {}", c, d.hex().substr(0, 4)));
  }
  size_t count(const std::string& prefix) const {
    return std::count_if(events.begin(), events.end(), [&](auto& e) { return e.rfind(prefix, 0) == 0; });
  }
};

ResolvedJob job(int priority = 0, std::optional<int> estimate_ms = std::nullopt,
                std::vector<Digest> layers = {}) {
  ResolvedJob j;
  j.program = "true";
  j.priority = priority;
  if (estimate_ms) j.estimated_duration = std::chrono::milliseconds(*estimate_ms);
  j.layers = std::move(layers);
  return j;
}

JobOutcome exited(int code) {
  return JobOutcome{Exited{code}, {}};
}

struct SchedulerTest : ::testing::Test {
  Recorder sink;
  std::set<Digest> store;      // blobs the broker holds
  std::map<Digest, int> pins;  // and their pins
  Scheduler sched{sink, BlobPins{[this](const Digest& d) {
                                   if (!store.count(d)) return false;
                                   ++pins[d];
                                   return true;
                                 },
                                 [this](const Digest& d) {
                                   if (--pins.at(d) == 0) pins.erase(d);
                                 }}};
};

TEST_F(SchedulerTest, NoWorkerMeansJobsWaitInQueue) {
  sched.add_client(1);
  sched.submit(1, 10, job());
  EXPECT_EQ(sink.count("enqueue"), 0u);
  EXPECT_EQ(sched.stats().queued, 1u);
  sched.add_worker(7, 1);
  EXPECT_EQ(sink.count("enqueue w7"), 1u);
  EXPECT_EQ(sched.stats().queued, 0u);
}

TEST_F(SchedulerTest, WorkerGetsAtMostTwiceItsSlots) {
  sched.add_client(1);
  sched.add_worker(1, 3);
  for (int i = 0; i < 10; ++i) sched.submit(1, i, job());
  EXPECT_EQ(sink.count("enqueue w1"), 6u);
  EXPECT_EQ(sched.stats().queued, 4u);
  // One job done frees room for exactly one more.
  BrokerJobId first = sink.enqueued.front().first;
  sched.job_running(1, first);
  sched.job_done(1, first, exited(0));
  EXPECT_EQ(sink.count("enqueue w1"), 7u);
  EXPECT_EQ(sched.stats().queued, 3u);
}

TEST_F(SchedulerTest, HighestPriorityThenLongestFirst) {
  sched.add_client(1);
  sched.submit(1, 1, job(0, 100));
  sched.submit(1, 2, job(0, 500));
  sched.submit(1, 3, job(5, 10));
  sched.submit(1, 4, job(0, std::nullopt));  // unknown counts as longest
  sched.submit(1, 5, job(0, 500));           // tie: submission order
  sched.add_worker(1, 5);                    // room for all: dispatch order is the queue order
  std::vector<ClientJobId> order;
  std::map<BrokerJobId, ClientJobId> to_client{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}};
  for (auto& [id, j] : sink.enqueued) order.push_back(to_client.at(id));
  EXPECT_EQ(order, (std::vector<ClientJobId>{3, 4, 2, 5, 1}));
}

TEST_F(SchedulerTest, LeastLoadedWorkerFirst) {
  sched.add_client(1);
  sched.add_worker(1, 4);
  sched.add_worker(2, 1);
  for (int i = 0; i < 10; ++i) sched.submit(1, i, job());
  // 8 go to worker 1 and 2 to worker 2, interleaved by load per slot.
  EXPECT_EQ(sink.count("enqueue w1"), 8u);
  EXPECT_EQ(sink.count("enqueue w2"), 2u);
  // Worker 2 is never more loaded per slot than worker 1 when it gets a job.
  size_t w1 = 0, w2 = 0;
  for (auto& e : sink.events) {
    if (e.rfind("enqueue w1", 0) == 0) ++w1;
    if (e.rfind("enqueue w2", 0) == 0) {
      EXPECT_LE(w2 * 4, w1) << "worker 2 got a job while busier per slot";
      ++w2;
    }
  }
  EXPECT_EQ(sched.stats().queued, 0u);
}

TEST_F(SchedulerTest, StatesFlowToClient) {
  sched.add_client(3);
  sched.add_worker(9, 1);
  sched.submit(3, 42, job());
  BrokerJobId id = sink.enqueued.at(0).first;
  sched.job_running(9, id);
  sched.job_done(9, id, exited(4));
  std::vector<std::string> expect{"state c3 j42 1", "enqueue w9 j1", "state c3 j42 2 w9", "state c3 j42 3",
                                  "done c3 j42"};
  EXPECT_EQ(sink.events, expect);
  EXPECT_EQ(std::get<Exited>(sink.outcomes.at(42).result).code, 4);
  EXPECT_EQ(sched.stats().completed, 1u);
}

TEST_F(SchedulerTest, MissingArtifactUploadedOnceForManyJobsAndClients) {
  Digest d = Digest::of_bytes("layer");
  sched.add_client(1);
  sched.add_client(2);
  sched.add_worker(1, 8);
  sched.submit(1, 1, job(0, {}, {d}));
  sched.submit(1, 2, job(0, {}, {d, d}));
  sched.submit(2, 1, job(0, {}, {d}));
  EXPECT_EQ(sink.count("request"), 1u);
  EXPECT_EQ(sink.count("request c1"), 1u);
  EXPECT_TRUE(sched.artifact_expected(1, d));
  EXPECT_FALSE(sched.artifact_expected(2, d));
  EXPECT_EQ(sched.stats().waiting_for_artifacts, 3u);
  EXPECT_EQ(sink.count("enqueue"), 0u);
  store.insert(d);
  sched.artifact_ready(d);
  EXPECT_EQ(sink.count("enqueue"), 3u);
  EXPECT_EQ(sched.stats().waiting_for_artifacts, 0u);
  // Later jobs needing it do not ask again.
  sched.submit(2, 2, job(0, {}, {d}));
  EXPECT_EQ(sink.count("request"), 1u);
  EXPECT_EQ(sink.count("enqueue"), 4u);
}

TEST_F(SchedulerTest, LayersOfLiveJobsStayPinnedUntilTheyEnd) {
  std::vector<Digest> layers;
  for (int i = 0; i < 10; ++i) layers.push_back(Digest::of_bytes("layer " + std::to_string(i)));
  for (int i = 0; i < 5; ++i) store.insert(layers[i]);  // the rest must be uploaded
  sched.add_client(1);
  sched.add_client(2);
  sched.add_worker(1, 2);
  // 200 jobs, each needing two of the ten layers; most wait at the broker.
  for (int i = 0; i < 200; ++i)
    sched.submit(1 + i % 2, i, job(0, {}, {layers[i % 10], layers[(i * 3 + 1) % 10]}));
  EXPECT_EQ(pins.size(), 5u);  // every present layer, pinned once
  for (int i = 5; i < 10; ++i) {
    store.insert(layers[i]);
    sched.artifact_ready(layers[i]);
  }
  EXPECT_EQ(pins.size(), 10u);
  EXPECT_EQ(sched.pinned_blobs(), 10u);
  for (const auto& [d, n] : pins) EXPECT_EQ(n, 1) << d.hex();
  // Jobs end every way a job can: done, cancelled, lost with its client.
  sched.cancel(1, 10);  // queued
  sched.remove_client(2);
  for (int round = 0; round < 1000 && !sink.on_worker.empty(); ++round) {
    auto [id, w] = *sink.on_worker.begin();
    sink.on_worker.erase(sink.on_worker.begin());
    sched.job_done(w, id, exited(0));
  }
  EXPECT_EQ(sched.stats().queued, 0u);
  EXPECT_TRUE(pins.empty());
  EXPECT_EQ(sched.pinned_blobs(), 0u);
}

TEST_F(SchedulerTest, PinsFollowOneJobToItsEnd) {
  Digest d = Digest::of_bytes("layer");
  store.insert(d);
  sched.add_client(1);
  sched.submit(1, 1, job(0, {}, {d}));
  EXPECT_EQ(pins[d], 1);
  sched.add_worker(1, 1);
  sched.remove_worker(1);  // lost once: queued again, still pinned
  EXPECT_EQ(pins[d], 1);
  sched.add_worker(2, 1);
  sched.job_running(2, 1);
  EXPECT_EQ(pins[d], 1);
  sched.job_done(2, 1, exited(0));
  EXPECT_FALSE(pins.count(d));
}

TEST_F(SchedulerTest, BlobGoneBeforeItCouldBePinnedIsAskedForAgain) {
  Digest d = Digest::of_bytes("layer");
  sched.add_client(1);
  sched.add_worker(1, 1);
  sched.submit(1, 1, job(0, {}, {d}));
  EXPECT_EQ(sink.count("request c1"), 1u);
  sched.artifact_ready(d);  // stored, then evicted by someone else's upload
  EXPECT_EQ(sink.count("request c1"), 2u);
  EXPECT_TRUE(sched.artifact_expected(1, d));
  EXPECT_EQ(sink.count("enqueue"), 0u);
  store.insert(d);
  sched.artifact_ready(d);
  EXPECT_EQ(sink.count("enqueue"), 1u);
  EXPECT_EQ(pins[d], 1);
}

TEST_F(SchedulerTest, UploaderVanishingAsksAnotherClient) {
  Digest d = Digest::of_bytes("layer");
  sched.add_client(1);
  sched.add_client(2);
  sched.submit(1, 1, job(0, {}, {d}));
  sched.submit(2, 1, job(0, {}, {d}));
  sched.remove_client(1);
  EXPECT_EQ(sink.count("request c2"), 1u);
  EXPECT_TRUE(sched.artifact_expected(2, d));
}

TEST_F(SchedulerTest, BadUploadFailsOnlyThatClientsJobs) {
  Digest d = Digest::of_bytes("layer");
  sched.add_client(1);
  sched.add_client(2);
  sched.submit(1, 1, job(0, {}, {d}));
  sched.submit(2, 5, job(0, {}, {d}));
  sched.artifact_failed(1, d, "digest mismatch");
  ASSERT_TRUE(sink.outcomes.count(1));
  EXPECT_EQ(std::get<JobError>(sink.outcomes.at(1).result).message, "digest mismatch");
  EXPECT_FALSE(sink.outcomes.count(5));
  EXPECT_EQ(sink.count("request c2"), 1u);
}

TEST_F(SchedulerTest, VanishedWorkersJobsRequeuedOnOthers) {
  sched.add_client(1);
  sched.add_worker(1, 1);
  sched.submit(1, 1, job());
  sched.submit(1, 2, job());
  EXPECT_EQ(sink.count("enqueue w1"), 2u);
  sched.job_running(1, 1);
  sched.remove_worker(1);
  EXPECT_EQ(sched.stats().queued, 2u);
  sched.add_worker(2, 1);
  EXPECT_EQ(sink.count("enqueue w2"), 2u);
  // A late answer from the vanished worker is ignored.
  sched.job_done(1, 1, exited(0));
  EXPECT_FALSE(sink.outcomes.count(1));
  sched.job_done(2, 1, exited(0));
  EXPECT_TRUE(sink.outcomes.count(1));
}

TEST_F(SchedulerTest, JobLostOnTooManyWorkersFails) {
  sched.add_client(1);
  sched.submit(1, 1, job());
  for (WorkerId w = 1; w <= 3; ++w) {
    sched.add_worker(w, 1);
    sched.remove_worker(w);
    EXPECT_FALSE(sink.outcomes.count(1));
  }
  sched.add_worker(4, 1);
  sched.remove_worker(4);
  ASSERT_TRUE(sink.outcomes.count(1));
  const auto& err = std::get<JobError>(sink.outcomes.at(1).result);
  EXPECT_EQ(err.kind, JobErrorKind::System);
  EXPECT_NE(err.message.find("4 workers"), std::string::npos);
}

TEST_F(SchedulerTest, VanishedClientsJobsDroppedAndCancelled) {
  sched.add_client(1);
  sched.add_client(2);
  sched.add_worker(1, 1);
  for (int i = 0; i < 4; ++i) sched.submit(1, i, job());
  sched.submit(2, 0, job());
  EXPECT_EQ(sink.count("enqueue"), 2u);
  sched.remove_client(1);
  EXPECT_EQ(sink.count("cancel w1"), 2u);
  EXPECT_EQ(sched.stats().queued, 0u);
  // Room freed at once: the other client's job goes out.
  EXPECT_EQ(sink.count("enqueue"), 3u);
  EXPECT_EQ(sink.count("done c1"), 0u);
}

TEST_F(SchedulerTest, VanishedClientsQueuedJobsCancelledBeforeRunningOnes) {
  sched.add_client(1);
  sched.add_worker(1, 2);
  for (int i = 0; i < 3; ++i) sched.submit(1, i, job());
  sched.job_running(1, 1);
  sched.job_running(1, 3);
  sink.events.clear();
  sched.remove_client(1);
  EXPECT_EQ(sink.events, (std::vector<std::string>{"cancel w1 j2", "cancel w1 j1", "cancel w1 j3"}));
}

TEST_F(SchedulerTest, CancelQueuedJobCompletesIt) {
  sched.add_client(1);
  sched.submit(1, 1, job());
  sched.cancel(1, 1);
  ASSERT_TRUE(sink.outcomes.count(1));
  EXPECT_EQ(std::get<JobError>(sink.outcomes.at(1).result).message, "job cancelled");
  EXPECT_EQ(sched.stats().queued, 0u);
}

TEST_F(SchedulerTest, CancelAssignedJobAsksWorker) {
  sched.add_client(1);
  sched.add_worker(1, 1);
  sched.submit(1, 1, job());
  sched.cancel(1, 1);
  EXPECT_EQ(sink.count("cancel w1 j1"), 1u);
  EXPECT_FALSE(sink.outcomes.count(1));
}

TEST_F(SchedulerTest, DuplicateClientJobIdIsRefused) {
  sched.add_client(1);
  sched.submit(1, 1, job());
  sched.submit(1, 1, job());
  ASSERT_TRUE(sink.outcomes.count(1));
  EXPECT_EQ(sched.stats().queued, 1u);
}

ResolvedJob local_job(Network network, std::string bind_path = "") {
  ResolvedJob j = job();
  j.network = network;
  if (!bind_path.empty())
    j.mounts.push_back(Mount{.type = MountType::Bind, .mount_point = "/m", .local_path = bind_path});
  return j;
}

TEST_F(SchedulerTest, LocalFeatureJobsGoOnlyToWorkersThatAllowThem) {
  sched.add_client(1);
  sched.add_worker(7, 4);  // allows nothing
  sched.add_worker(8, 1, WorkerFeatures{.bind_mount_roots = {"/srv/data"}, .local_network = true});
  sched.submit(1, 1, local_job(Network::Local));
  sched.submit(1, 2, local_job(Network::Disabled, "/srv/data/set"));
  sched.submit(1, 3, local_job(Network::Disabled, "/srv/other"));  // no worker takes it: waits
  EXPECT_EQ(sink.on_worker.size(), 2u);
  for (const auto& [id, w] : sink.on_worker) EXPECT_EQ(w, 8u) << id;
  // Plain jobs still go anywhere, the least loaded first, past the local job at the queue's head.
  sched.submit(1, 4, job());
  EXPECT_EQ(sink.count("enqueue w7"), 1u);
  EXPECT_EQ(sched.stats().queued, 1u);
  // A worker that allows it takes the waiting one.
  sched.add_worker(9, 1, WorkerFeatures{.bind_mount_roots = {"/srv"}});
  EXPECT_EQ(sink.count("enqueue w9"), 1u);
  EXPECT_EQ(sched.stats().queued, 0u);
}

TEST_F(SchedulerTest, LocalFeatureJobsKeepTheirPlaceInPriority) {
  sched.add_client(1);
  sched.submit(1, 1, job(0));
  sched.submit(1, 2, [] {
    ResolvedJob j = local_job(Network::Local);
    j.priority = 5;
    return j;
  }());
  sched.add_worker(8, 1, WorkerFeatures{.local_network = true});  // room for two jobs
  ASSERT_EQ(sink.enqueued.size(), 2u);
  EXPECT_EQ(sink.enqueued[0].second.network, Network::Local);  // the higher priority first
}

TEST_F(SchedulerTest, FailQueuedEndsOnlyTheQueuedJobs) {
  Digest missing = Digest::of_bytes("missing");
  sched.add_client(1);
  sched.submit(1, 1, job());
  sched.submit(1, 2, job(0, std::nullopt, {missing}));  // waits for its layer
  sched.fail_queued("no worker for a while");
  ASSERT_EQ(sink.outcomes.size(), 1u);
  EXPECT_EQ(std::get<JobError>(sink.outcomes.at(1).result).message, "no worker for a while");
  EXPECT_EQ(sched.stats().waiting_for_artifacts, 1u);
  EXPECT_EQ(sched.stats().queued, 0u);
}

TEST_F(SchedulerTest, StatsPerClient) {
  Digest missing = Digest::of_bytes("missing");
  sched.add_client(1);
  sched.add_client(2);
  sched.submit(1, 1, job(0, std::nullopt, {missing}));
  EXPECT_FALSE(sched.client_has_runnable_jobs(1));
  sched.submit(1, 2, job());
  EXPECT_TRUE(sched.client_has_runnable_jobs(1));
  sched.submit(2, 1, job());
  sched.add_worker(7, 1);  // takes two jobs; runs one
  sched.job_running(7, sink.enqueued[0].first);
  sched.job_done(7, sink.enqueued[1].first, exited(0));
  auto s = sched.stats();
  ASSERT_EQ(s.per_client.size(), 2u);
  const auto& c1 = s.per_client[0];
  const auto& c2 = s.per_client[1];
  EXPECT_EQ(
      c1.waiting_for_artifacts + c1.queued + c1.assigned + c1.running + c2.queued + c2.assigned + c2.running,
      2u);
  EXPECT_EQ(c1.waiting_for_artifacts, 1u);
  EXPECT_EQ(c1.running, 1u);
  EXPECT_EQ(c2.completed, 1u);
  sched.remove_client(2);
  EXPECT_EQ(sched.stats().per_client.size(), 1u);
}

TEST_F(SchedulerTest, LocalFeatureJobsNoWorkerRunsAnyMoreFailAfterTheTimeout) {
  using namespace std::chrono_literals;
  sched.add_client(1);
  sched.add_worker(8, 1, WorkerFeatures{.local_network = true});
  sched.submit(1, 1, local_job(Network::Local));
  sched.submit(1, 2, local_job(Network::Local));
  sched.submit(1, 3, local_job(Network::Local));  // no room: queued
  sched.remove_worker(8);                         // the only worker that runs them
  sched.add_worker(7, 4);                         // one that does not
  auto t0 = std::chrono::steady_clock::time_point{};
  sched.fail_unplaceable(t0, 10s, "gone");
  sched.fail_unplaceable(t0 + 9s, 10s, "gone");
  EXPECT_TRUE(sink.outcomes.empty());
  sched.fail_unplaceable(t0 + 10s, 10s, "gone");
  ASSERT_EQ(sink.outcomes.size(), 3u);
  EXPECT_EQ(std::get<JobError>(sink.outcomes.at(1).result).message, "gone");
  // A job that a worker runs again is timed afresh.
  sched.submit(1, 4, local_job(Network::Local));
  sched.fail_unplaceable(t0 + 20s, 10s, "gone");
  sched.add_worker(9, 1, WorkerFeatures{.local_network = true});
  EXPECT_EQ(sink.count("enqueue w9"), 1u);
  EXPECT_EQ(sink.outcomes.size(), 3u);
}

}  // namespace
}  // namespace mael::cluster
