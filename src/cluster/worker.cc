#include "cluster/worker.h"

#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "cluster.grpc.pb.h"
#include "cluster/convert.h"
#include "cluster/outbox.h"
#include "cluster/scheduler.h"  // job id types
#include "store/artifact_store.h"

namespace mael::cluster {

namespace {

JobOutcome system_error(std::string message) {
  return JobOutcome{JobError{JobErrorKind::System, std::move(message)}, {}};
}

// A refusal that retrying cannot fix.
bool is_fatal(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         st.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
         st.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

// Blobs pinned in the worker's store for one job, from the moment each is
// present until the job is over: fetching the layers of the next jobs into a
// small cache cannot evict those of a job that waits for a slot.
using JobPins = ArtifactStore::PinnedBlobs;

}  // namespace

// One connection to the broker, with its own executor and layer fetchers: when
// the connection ends, everything it started ends with it (the broker re-queues
// this worker's jobs elsewhere).
struct Worker::Session {
  Worker& w;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Broker::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::WorkerToBroker, pb::BrokerToWorker>> stream;

  // Messages to the broker go through one writer thread, so that a slot's
  // thread never waits on the network between one job and the next.
  Outbox<pb::WorkerToBroker> out;
  std::thread writer;
  std::mutex mu;  // guards the job maps, fetch queue and flags below
  std::condition_variable cv;
  bool ending = false;
  struct Waiting {
    ResolvedJob job;
    std::set<Digest> missing;
    JobPins pins;
  };
  std::map<BrokerJobId, Waiting> waiting;  // fetching layers
  std::map<BrokerJobId, JobId> running;    // in the executor
  std::map<Digest, std::set<BrokerJobId>> fetch_waiters;
  std::deque<Digest> fetch_queue;
  std::set<grpc::ClientContext*> fetch_ctxs;
  std::vector<std::thread> fetchers;
  std::thread heartbeat;
  std::unique_ptr<LocalExecutor> executor;

  explicit Session(Worker& worker) : w(worker) {}
  ~Session() { end(); }  // idempotent; covers an exception mid-session

  void send(pb::WorkerToBroker m) { out.push(std::move(m)); }
  void send_done(BrokerJobId id, const JobOutcome& o) {
    pb::WorkerToBroker m;
    m.mutable_done()->set_job_id(id);
    to_proto(o, m.mutable_done()->mutable_outcome());
    send(std::move(m));
  }

  // Hands a job whose layers are all here (and pinned) to the executor. Call
  // without mu.
  void start(BrokerJobId id, ResolvedJob job, JobPins pins) {
    std::lock_guard lk(mu);
    if (ending) return;
    auto held = std::make_shared<JobPins>(std::move(pins));  // released with the job
    JobId eid = executor->submit(
        std::move(job),
        [this, id](JobState s) {
          if (s != JobState::Running) return;
          pb::WorkerToBroker m;
          m.mutable_status()->set_job_id(id);
          m.mutable_status()->set_state(pb::RUNNING);
          send(std::move(m));
        },
        [this, id, held](JobOutcome o) {
          {
            std::lock_guard lk2(mu);
            running.erase(id);
          }
          send_done(id, o);
        });
    // submit() never calls on_done synchronously, so the job is still ours.
    running[id] = eid;
  }

  void enqueue(BrokerJobId id, const pb::ResolvedJob& pj) {
    ResolvedJob job;
    try {
      job = from_proto(pj);
    } catch (const UserError& e) {
      send_done(id, system_error(e.what()));
      return;
    }
    // The broker's jobs are not trusted with this host beyond what its configuration allows.
    if (auto why = local_features_refusal(job, w.options_.features, w.options_.name, true)) {
      log::warn("refused job {} from the broker: {}", id, *why);
      send_done(id, JobOutcome{JobError{JobErrorKind::Execution, *why}, {}});
      return;
    }
    std::set<Digest> missing;
    JobPins pins = w.store_.pin_blobs({});
    for (const Digest& d : std::set<Digest>(job.layers.begin(), job.layers.end()))
      if (!pins.add(d)) missing.insert(d);
    if (missing.empty()) {
      start(id, std::move(job), std::move(pins));
      return;
    }
    std::lock_guard lk(mu);
    for (const Digest& d : missing) {
      auto& waiters = fetch_waiters[d];
      if (waiters.empty()) fetch_queue.push_back(d);
      waiters.insert(id);
    }
    waiting.try_emplace(id, Waiting{std::move(job), std::move(missing), std::move(pins)});
    cv.notify_all();
  }

  void cancel(BrokerJobId id) {
    std::unique_lock lk(mu);
    if (auto it = running.find(id); it != running.end()) {
      JobId eid = it->second;
      lk.unlock();
      executor->cancel(eid);  // the outcome arrives through on_done
      return;
    }
    auto it = waiting.find(id);
    if (it == waiting.end()) return;
    for (const Digest& d : it->second.missing) fetch_waiters[d].erase(id);
    waiting.erase(it);
    lk.unlock();
    send_done(id, system_error("job cancelled"));
  }

  void fetch_loop() {
    for (;;) {
      Digest d;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return ending || !fetch_queue.empty(); });
        if (ending) return;
        d = fetch_queue.front();
        fetch_queue.pop_front();
        if (fetch_waiters[d].empty()) {  // every job that wanted it was cancelled
          fetch_waiters.erase(d);
          continue;
        }
      }
      std::string error;
      try {
        if (!w.store_.has_blob(d)) fetch(d);
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::vector<std::tuple<BrokerJobId, ResolvedJob, JobPins>> ready;
      std::vector<BrokerJobId> failed;
      {
        std::lock_guard lk(mu);
        bool evicted = false;  // by another fetch into a tiny cache: fetch again
        for (BrokerJobId id : fetch_waiters[d]) {
          auto it = waiting.find(id);
          if (it == waiting.end()) continue;
          if (!error.empty()) {
            for (const Digest& other : it->second.missing)
              if (other != d) fetch_waiters[other].erase(id);
            waiting.erase(it);
            failed.push_back(id);
            continue;
          }
          if (!it->second.pins.add(d)) {
            evicted = true;
            break;
          }
          it->second.missing.erase(d);
          if (it->second.missing.empty()) {
            ready.emplace_back(id, std::move(it->second.job), std::move(it->second.pins));
            waiting.erase(it);
          }
        }
        if (evicted) {
          for (const auto& [id, job, pins] : ready) fetch_waiters[d].erase(id);
          fetch_queue.push_back(d);
          cv.notify_all();
        } else {
          fetch_waiters.erase(d);
        }
      }
      if (!error.empty()) log::error("fetching layer sha256:{} failed: {}", d.hex(), error);
      for (BrokerJobId id : failed)
        send_done(id,
                  system_error(mael::format("worker could not fetch layer sha256:{}: {}", d.hex(), error)));
      for (auto& [id, job, pins] : ready) start(id, std::move(job), std::move(pins));
    }
  }

  // Streams one blob from the broker into the store; commit verifies SHA-256.
  void fetch(const Digest& d) {
    grpc::ClientContext fctx;
    add_auth(fctx, w.options_.tls);
    {
      std::lock_guard lk(mu);
      if (ending) throw std::runtime_error("connection closing");
      fetch_ctxs.insert(&fctx);
    }
    struct Unregister {
      Session& s;
      grpc::ClientContext* c;
      ~Unregister() {
        std::lock_guard lk(s.mu);
        s.fetch_ctxs.erase(c);
      }
    } unregister{*this, &fctx};
    pb::BlobRequest req;
    req.set_protocol_version(kProtocolVersion);
    req.set_digest(digest_bytes(d));
    auto reader = stub->DownloadBlob(&fctx, req);
    auto writer = w.store_.begin_blob(d);
    pb::BlobChunk chunk;
    while (reader->Read(&chunk)) writer.write(chunk.data().data(), chunk.data().size());
    grpc::Status st = reader->Finish();
    if (!st.ok()) throw std::runtime_error(st.error_message());
    try {
      writer.commit();
    } catch (const UserError& e) {
      throw std::runtime_error(mael::format("bytes from the broker do not match the digest: {}", e.what()));
    }
  }

  void heartbeat_loop() {
    std::unique_lock lk(mu);
    while (!ending) {
      cv.wait_for(lk, w.options_.heartbeat_interval);
      if (ending) return;
      lk.unlock();
      pb::WorkerToBroker m;
      m.mutable_heartbeat();
      send(std::move(m));
      lk.lock();
    }
  }

  // Ends everything this session started. The stream stays open until the
  // executor has reported (into the void) on every job.
  void end() {
    {
      std::lock_guard lk(mu);
      ending = true;
      for (auto* c : fetch_ctxs) c->TryCancel();
    }
    cv.notify_all();
    for (auto& t : fetchers)
      if (t.joinable()) t.join();
    if (heartbeat.joinable()) heartbeat.join();
    executor.reset();
    out.close();  // the writer sends what is queued, or fails fast on a dead stream
    if (writer.joinable()) writer.join();
  }
};

Worker::Worker(WorkerOptions options, ArtifactStore& store, ContainerRunner runner)
    : options_(std::move(options)), store_(store), runner_(std::move(runner)) {
  if (options_.slots == 0) options_.slots = std::max(1u, std::thread::hardware_concurrency());
  options_.inline_limit = std::min(options_.inline_limit, kMaxInlineLimit);
}

Worker::~Worker() = default;

void Worker::stop() {
  std::lock_guard lk(mu_);
  stopping_ = true;
  if (session_) session_->ctx.TryCancel();
  cv_.notify_all();
}

void Worker::run() {
  auto backoff = options_.initial_backoff;
  for (;;) {
    auto started = std::chrono::steady_clock::now();
    if (run_session()) return;
    // A session that lasted a while was a real connection: start over.
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(10))
      backoff = options_.initial_backoff;
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, backoff, [&] { return stopping_; })) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool Worker::run_session() {
  Session s(*this);
  s.channel =
      grpc::CreateCustomChannel(options_.broker, channel_credentials(options_.tls), channel_arguments());
  s.stub = pb::Broker::NewStub(s.channel);
  add_auth(s.ctx, options_.tls);
  {
    std::lock_guard lk(mu_);
    if (stopping_) return true;
    session_ = &s;
  }
  struct Detach {
    Worker& w;
    ~Detach() {
      std::lock_guard lk(w.mu_);
      w.session_ = nullptr;
    }
  } detach{*this};

  s.stream = s.stub->WorkerSession(&s.ctx);
  pb::WorkerToBroker hello;
  const uint32_t version = options_.protocol_version ? options_.protocol_version : kProtocolVersion;
  hello.mutable_hello()->set_protocol_version(version);
  hello.mutable_hello()->set_name(options_.name);
  hello.mutable_hello()->set_slots(options_.slots);
  for (const std::string& root : options_.features.bind_mount_roots)
    hello.mutable_hello()->add_bind_mount_roots(root);
  hello.mutable_hello()->set_local_network(options_.features.local_network);
  s.stream->Write(hello);
  pb::BrokerToWorker msg;
  if (!s.stream->Read(&msg) || !msg.has_welcome()) {
    grpc::Status st = s.stream->Finish();
    if (is_fatal(st))
      throw UserError(
          mael::format("broker at {} refused this worker: {}", options_.broker, st.error_message()));
    std::lock_guard lk(mu_);
    if (!stopping_)
      log::warn("cannot connect to broker at {}: {}; retrying", options_.broker, st.error_message());
    return stopping_;
  }
  if (msg.welcome().protocol_version() != version) {
    s.ctx.TryCancel();
    s.stream->Finish();
    throw UserError(
        mael::format("protocol version mismatch: broker at {} speaks version {}, this worker speaks version "
                     "{}; run the same "
                     "Maelstrom release on broker and workers",
                     options_.broker, msg.welcome().protocol_version(), version));
  }
  std::string allows;
  for (const std::string& root : options_.features.bind_mount_roots)
    allows += (allows.empty() ? "" : ", ") + root;
  if (!allows.empty()) allows = "bind mounts from " + allows;
  if (options_.features.local_network) allows += allows.empty() ? "network = local" : " and network = local";
  log::info("connected to broker at {} as worker {} with {} slots; its jobs may use {}", options_.broker,
            msg.welcome().id(), options_.slots, allows.empty() ? "nothing of this host" : allows);

  s.executor = std::make_unique<LocalExecutor>(store_, runner_,
                                               ExecutorOptions{options_.slots, options_.inline_limit, options_.limits});
  s.writer = start_writer(s.stream.get(), s.out);
  for (size_t i = 0; i < options_.fetch_threads; ++i) s.fetchers.emplace_back([&s] { s.fetch_loop(); });
  s.heartbeat = std::thread([&s] { s.heartbeat_loop(); });

  bool shutdown = false;
  while (s.stream->Read(&msg)) {
    switch (msg.msg_case()) {
      case pb::BrokerToWorker::kEnqueue: s.enqueue(msg.enqueue().job_id(), msg.enqueue().job()); break;
      case pb::BrokerToWorker::kCancel: s.cancel(msg.cancel().job_id()); break;
      case pb::BrokerToWorker::kShutdown:
        log::info("broker asked this worker to exit: {}", msg.shutdown().reason());
        shutdown = true;
        break;
      default: break;
    }
    if (shutdown) break;
  }
  s.end();
  s.ctx.TryCancel();
  grpc::Status st = s.stream->Finish();
  std::lock_guard lk(mu_);
  if (shutdown || stopping_) return true;
  log::warn("lost connection to broker at {}: {}; reconnecting", options_.broker,
            st.ok() ? "stream closed" : st.error_message());
  return false;
}

}  // namespace mael::cluster
