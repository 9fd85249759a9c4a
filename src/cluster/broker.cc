#include "cluster/broker.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "cluster.grpc.pb.h"
#include "cluster/convert.h"
#include "cluster/http_server.h"
#include "cluster/outbox.h"
#include "cluster/scheduler.h"
#include "cluster/web_assets.h"
#include "store/artifact_store.h"

namespace mael::cluster {

namespace {

using Clock = std::chrono::steady_clock;

std::string version_mismatch(uint32_t theirs, const char* who) {
  return mael::format(
      "protocol version mismatch: the broker speaks version {}, this {} speaks version {}; run the same "
      "Maelstrom release on broker, workers and clients",
      kProtocolVersion, who, theirs);
}

// gRPC writes peers as "ipv6:%5B::1%5D:4000": show "[::1]:4000".
std::string peer_name(const grpc::ServerContext* ctx) {
  std::string p = ctx->peer();
  for (const char* prefix : {"ipv4:", "ipv6:"})
    if (p.rfind(prefix, 0) == 0) p = p.substr(5);
  for (auto [from, to] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}})
    for (size_t i; (i = p.find(from)) != std::string::npos;) p.replace(i, 3, to);
  return p;
}

struct HistorySample {
  double t;
  size_t waiting, queued, assigned, running;
  uint64_t completed;
};

}  // namespace

struct Broker::Impl final : pb::Broker::Service, SchedulerSink {
  struct ClientConn {
    std::string name, peer;
    Outbox<pb::BrokerToClient> out;
  };
  struct WorkerConn {
    std::string name, peer;
    size_t slots;
    grpc::ServerContext* ctx;
    Clock::time_point last_seen;
    Outbox<pb::BrokerToWorker> out;
  };

  BrokerOptions opts;
  ArtifactStore store;
  mutable std::mutex mu;  // guards everything below and the scheduler
  Scheduler sched;
  std::map<ClientId, std::shared_ptr<ClientConn>> clients;
  std::map<WorkerId, std::shared_ptr<WorkerConn>> workers;
  std::deque<HistorySample> history;
  Clock::time_point started = Clock::now();
  uint64_t next_id = 1;
  std::atomic<int> uploads{0};

  // Set (with mu held) once shutdown begins: from then on nothing more is
  // relayed to clients, who have been told the broker is stopping.
  bool stopping = false;
  std::string stopping_reason;  // what clients are told

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop_requested = false;
  std::string stop_reason;  // guarded by stop_mu
  bool shut_down = false;

  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::unique_ptr<HttpServer> http;
  std::thread ticker;

  explicit Impl(BrokerOptions o)
      : opts(std::move(o)),
        store(opts.cache_root, opts.cache_size),
        sched(*this,
              BlobPins{[this](const Digest& d) { return store.pin_blob(d); },
                       [this](const Digest& d) { store.unpin_blob(d); }},
              SchedulerOptions{opts.max_job_losses, 2}) {}

  // ---- SchedulerSink (called with mu held) --------------------------------

  void enqueue_on_worker(WorkerId w, BrokerJobId j, const ResolvedJob& job) override {
    auto it = workers.find(w);
    if (it == workers.end()) return;
    pb::BrokerToWorker m;
    m.mutable_enqueue()->set_job_id(j);
    to_proto(job, m.mutable_enqueue()->mutable_job());
    it->second->out.push(std::move(m));
  }
  void cancel_on_worker(WorkerId w, BrokerJobId j) override {
    auto it = workers.find(w);
    if (it == workers.end()) return;
    pb::BrokerToWorker m;
    m.mutable_cancel()->set_job_id(j);
    it->second->out.push(std::move(m));
  }
  void job_state(ClientId c, ClientJobId j, JobState s, std::optional<WorkerId> w) override {
    auto it = clients.find(c);
    if (it == clients.end() || stopping) return;
    pb::BrokerToClient m;
    auto* st = m.mutable_status();
    st->set_job_id(j);
    st->set_state(to_proto(s));
    if (w) {
      auto wt = workers.find(*w);
      st->set_worker(mael::format("worker {} ({})", *w, wt == workers.end() ? "?" : wt->second->name));
    }
    it->second->out.push(std::move(m));
  }
  void job_done(ClientId c, ClientJobId j, const JobOutcome& o) override {
    // While stopping, workers end their jobs as cancelled: the clients already
    // know why their jobs will not finish.
    auto it = clients.find(c);
    if (it == clients.end() || stopping) return;
    pb::BrokerToClient m;
    m.mutable_done()->set_job_id(j);
    to_proto(o, m.mutable_done()->mutable_outcome());
    it->second->out.push(std::move(m));
  }
  void request_artifact(ClientId c, const Digest& d) override {
    auto it = clients.find(c);
    if (it == clients.end() || stopping) return;
    pb::BrokerToClient m;
    m.mutable_artifact_request()->set_digest(digest_bytes(d));
    it->second->out.push(std::move(m));
  }

  // ---- gRPC service ---------------------------------------------------------

  grpc::Status refuse(grpc::ServerContext* ctx, const char* what) {
    grpc::Status st = check_auth(*ctx, opts.tls);
    if (!st.ok()) log::warn("refused {} from {}: {}", what, peer_name(ctx), st.error_message());
    return st;
  }

  // A request from a peer of another protocol version: logged, and refused
  // with a message naming both versions.
  grpc::Status refuse_version(grpc::ServerContext* ctx, const char* what, uint32_t theirs, const char* who) {
    std::string why = version_mismatch(theirs, who);
    log::warn("refused {} from {}: {}", what, peer_name(ctx), why);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
  }

  grpc::Status ClientSession(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::BrokerToClient, pb::ClientToBroker>* stream) override {
    if (auto st = refuse(ctx, "client"); !st.ok()) return st;
    pb::ClientToBroker msg;
    if (!stream->Read(&msg) || !msg.has_hello())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected Hello first");
    ClientId id;
    {
      std::lock_guard lk(mu);
      id = next_id++;
    }
    pb::BrokerToClient welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_id(id);
    stream->Write(welcome);
    if (msg.hello().protocol_version() != kProtocolVersion) {
      std::string why = version_mismatch(msg.hello().protocol_version(), "client");
      log::warn("refused client {} from {}: {}", msg.hello().name(), peer_name(ctx), why);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
    }
    auto conn = std::make_shared<ClientConn>();
    conn->name = msg.hello().name();
    conn->peer = peer_name(ctx);
    {
      std::lock_guard lk(mu);
      clients[id] = conn;
      sched.add_client(id);
      if (stopping) conn->out.push(shutdown_message());  // arrived as the broker stops
    }
    log::info("client {} ({}) connected from {}", id, conn->name, conn->peer);
    std::thread writer = start_writer(stream, conn->out);
    while (stream->Read(&msg)) {
      std::lock_guard lk(mu);
      switch (msg.msg_case()) {
        case pb::ClientToBroker::kSubmit: {
          const auto& s = msg.submit();
          try {
            ResolvedJob job = from_proto(s.job());
            if (job.must_run_locally())
              throw UserError(
                  "job needs the client's own machine (bind mount or network = \"local\"): run it "
                  "on the client's local worker");
            sched.submit(id, s.job_id(), std::move(job));
          } catch (const UserError& e) {
            log::info("client {}: rejected job {}: {}", id, s.job_id(), e.what());
            sched.reject(id, s.job_id(), e.what());
          }
          break;
        }
        case pb::ClientToBroker::kCancel: sched.cancel(id, msg.cancel().job_id()); break;
        case pb::ClientToBroker::kArtifactUnavailable:
          try {
            Digest d = digest_from_bytes(msg.artifact_unavailable().digest());
            log::warn("client {} cannot provide {}: {}", id, d.hex(),
                         msg.artifact_unavailable().message());
            sched.artifact_failed(id, d,
                                  mael::format("client could not upload layer sha256:{}: {}", d.hex(),
                                              msg.artifact_unavailable().message()));
          } catch (const UserError& e) {
            log::warn("client {}: {}", id, e.what());
          }
          break;
        default: break;
      }
    }
    {
      std::lock_guard lk(mu);
      sched.remove_client(id);
      clients.erase(id);
    }
    conn->out.close();
    ctx->TryCancel();  // unblocks a writer stuck on a peer that stopped reading
    writer.join();
    log::info("client {} ({}) disconnected", id, conn->name);
    return grpc::Status::OK;
  }

  grpc::Status WorkerSession(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::BrokerToWorker, pb::WorkerToBroker>* stream) override {
    if (auto st = refuse(ctx, "worker"); !st.ok()) return st;
    pb::WorkerToBroker msg;
    if (!stream->Read(&msg) || !msg.has_hello())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected Hello first");
    WorkerId id;
    {
      std::lock_guard lk(mu);
      id = next_id++;
    }
    pb::BrokerToWorker welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_id(id);
    stream->Write(welcome);
    if (msg.hello().protocol_version() != kProtocolVersion) {
      std::string why = version_mismatch(msg.hello().protocol_version(), "worker");
      log::warn("refused worker {} from {}: {}", msg.hello().name(), peer_name(ctx), why);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
    }
    if (msg.hello().slots() == 0)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a worker needs slots");
    auto conn = std::make_shared<WorkerConn>();
    conn->name = msg.hello().name();
    conn->peer = peer_name(ctx);
    conn->slots = msg.hello().slots();
    conn->ctx = ctx;
    conn->last_seen = Clock::now();
    std::thread writer = start_writer(stream, conn->out);
    {
      std::lock_guard lk(mu);
      workers[id] = conn;
      sched.add_worker(id, conn->slots);
    }
    log::info("worker {} ({}, {} slots) connected from {}", id, conn->name, conn->slots, conn->peer);
    while (stream->Read(&msg)) {
      std::lock_guard lk(mu);
      conn->last_seen = Clock::now();
      switch (msg.msg_case()) {
        case pb::WorkerToBroker::kStatus:
          if (msg.status().state() == pb::RUNNING) sched.job_running(id, msg.status().job_id());
          break;
        case pb::WorkerToBroker::kDone:
          sched.job_done(id, msg.done().job_id(), from_proto(msg.done().outcome()));
          break;
        default: break;
      }
    }
    {
      std::lock_guard lk(mu);
      sched.remove_worker(id);
      workers.erase(id);
    }
    conn->out.close();
    ctx->TryCancel();
    writer.join();
    log::info("worker {} ({}) disconnected", id, conn->name);
    return grpc::Status::OK;
  }

  grpc::Status UploadBlob(grpc::ServerContext* ctx, grpc::ServerReader<pb::BlobChunk>* reader,
                          pb::UploadResult*) override {
    if (auto st = refuse(ctx, "upload"); !st.ok()) return st;
    pb::BlobChunk chunk;
    if (!reader->Read(&chunk)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload");
    if (chunk.protocol_version() != kProtocolVersion)
      return refuse_version(ctx, "upload", chunk.protocol_version(), "client");
    Digest d;
    try {
      d = digest_from_bytes(chunk.digest());
    } catch (const UserError& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    ClientId client = chunk.client_id();
    {
      std::lock_guard lk(mu);
      if (store.has_blob(d)) return grpc::Status::OK;
      // ABORTED: typically the job that wanted it was cancelled meanwhile.
      if (!sched.artifact_expected(client, d))
        return grpc::Status(grpc::StatusCode::ABORTED,
                            mael::format("the broker did not ask this client for sha256:{}", d.hex()));
    }
    if (uploads.fetch_add(1) >= static_cast<int>(opts.max_concurrent_uploads)) {
      uploads--;
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many uploads at once; retry");
    }
    struct Release {
      std::atomic<int>& n;
      ~Release() { n--; }
    } release{uploads};
    uint64_t size = chunk.size(), got = 0;
    try {
      auto writer = store.begin_blob(d);
      do {
        got += chunk.data().size();
        if (got > size)
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "upload longer than its declared size");
        writer.write(chunk.data().data(), chunk.data().size());
      } while (reader->Read(&chunk));
      if (ctx->IsCancelled() || got != size)
        return grpc::Status(grpc::StatusCode::CANCELLED, "upload ended early");
      writer.commit();
    } catch (const UserError& e) {
      std::string why = mael::format("layer sha256:{} uploaded by the client does not match its digest: {}",
                                    d.hex(), e.what());
      log::warn("client {} ({}): {}", client, peer_name(ctx), why);
      std::lock_guard lk(mu);
      sched.artifact_failed(client, d, why);
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
    } catch (const std::exception& e) {
      log::error("storing sha256:{} failed: {}", d.hex(), e.what());
      std::lock_guard lk(mu);
      sched.artifact_failed(client, d,
                            mael::format("broker could not store layer sha256:{}: {}", d.hex(), e.what()));
      return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
    }
    log::debug("stored sha256:{} ({} bytes) from client {}", d.hex(), size, client);
    std::lock_guard lk(mu);
    sched.artifact_ready(d);
    return grpc::Status::OK;
  }

  grpc::Status DownloadBlob(grpc::ServerContext* ctx, const pb::BlobRequest* req,
                            grpc::ServerWriter<pb::BlobChunk>* writer) override {
    if (auto st = refuse(ctx, "download"); !st.ok()) return st;
    if (req->protocol_version() != kProtocolVersion)
      return refuse_version(ctx, "download", req->protocol_version(), "worker");
    Digest d;
    try {
      d = digest_from_bytes(req->digest());
    } catch (const UserError& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    // An open fd stays readable even if the blob is evicted meanwhile.
    std::optional<UniqueFd> blob = store.open_blob(d);
    if (!blob)
      return grpc::Status(grpc::StatusCode::NOT_FOUND, mael::format("broker has no blob sha256:{}", d.hex()));
    int fd = blob->get();
    std::string buf(kChunkSize, '\0');
    pb::BlobChunk chunk;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0) return grpc::Status(grpc::StatusCode::INTERNAL, "reading blob failed");
      if (n == 0) break;
      chunk.set_data(buf.data(), n);
      if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "worker went away");
    }
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const pb::StatusRequest* req,
                      pb::StatusReply* reply) override {
    if (auto st = refuse(ctx, "status request"); !st.ok()) return st;
    if (req->protocol_version() != kProtocolVersion)
      return refuse_version(ctx, "status request", req->protocol_version(), "admin tool");
    reply->set_json(status_json());
    return grpc::Status::OK;
  }

  grpc::Status Stop(grpc::ServerContext* ctx, const pb::StopRequest* req, pb::StopReply*) override {
    if (auto st = refuse(ctx, "stop request"); !st.ok()) return st;
    if (req->protocol_version() != kProtocolVersion)
      return refuse_version(ctx, "stop request", req->protocol_version(), "admin tool");
    log::info("stop requested by {}", peer_name(ctx));
    request_stop(mael::format("maelstrom-admin stop from {}", peer_name(ctx)));
    return grpc::Status::OK;
  }

  // ---- status -----------------------------------------------------------------

  std::string status_json() const {
    std::lock_guard lk(mu);
    SchedulerStats s = sched.stats();
    nlohmann::json j;
    j["workers"] = nlohmann::json::array();
    size_t slots = 0;
    for (const auto& w : s.workers) {
      auto it = workers.find(w.id);
      slots += w.slots;
      j["workers"].push_back({{"id", w.id},
                              {"name", it == workers.end() ? "" : it->second->name},
                              {"peer", it == workers.end() ? "" : it->second->peer},
                              {"slots", w.slots},
                              {"assigned", w.assigned},
                              {"running", w.running}});
    }
    j["clients"] = nlohmann::json::array();
    for (const auto& [id, c] : clients)
      j["clients"].push_back({{"id", id}, {"name", c->name}, {"peer", c->peer}});
    j["slots"] = slots;
    j["waiting_for_artifacts"] = s.waiting_for_artifacts;
    j["queued"] = s.queued;
    j["assigned"] = s.assigned;
    j["running"] = s.running;
    j["completed"] = s.completed;
    j["pinned_blobs"] = sched.pinned_blobs();
    j["uptime_s"] = std::chrono::duration<double>(Clock::now() - started).count();
    j["history"] = nlohmann::json::array();
    for (const auto& h : history)
      j["history"].push_back({{"t", h.t},
                              {"waiting", h.waiting},
                              {"queued", h.queued},
                              {"assigned", h.assigned},
                              {"running", h.running},
                              {"completed", h.completed}});
    return j.dump();
  }

  HttpResponse web(const std::string& path) const {
    if (path == "/api/status") return {200, "application/json", status_json()};
    std::string name = path == "/" ? "index.html" : path.substr(1);
    if (auto a = web_asset(name)) {
      std::string type = name.ends_with(".html")  ? "text/html; charset=utf-8"
                         : name.ends_with(".js")  ? "text/javascript"
                         : name.ends_with(".css") ? "text/css"
                                                  : "application/octet-stream";
      return {200, type, std::string(*a)};
    }
    return {404, "text/plain", "not found\n"};
  }

  // Once a second: sample the counts for the chart; drop silent workers.
  void tick_loop() {
    std::unique_lock slk(stop_mu);
    while (!shut_down) {
      stop_cv.wait_for(slk, std::chrono::milliseconds(500));
      if (shut_down) break;
      slk.unlock();
      {
        std::lock_guard lk(mu);
        auto now = Clock::now();
        for (auto& [id, w] : workers)
          if (now - w->last_seen > opts.heartbeat_timeout) {
            log::warn("worker {} ({}) sent no heartbeat for {} ms: dropping it", id, w->name,
                         opts.heartbeat_timeout.count());
            w->last_seen = now;  // warn once; the session ends shortly
            w->ctx->TryCancel();
          }
        double t = std::chrono::duration<double>(now - started).count();
        if (history.empty() || t - history.back().t >= 1.0) {
          SchedulerStats s = sched.stats();
          history.push_back({t, s.waiting_for_artifacts, s.queued, s.assigned, s.running, s.completed});
          if (history.size() > 600) history.pop_front();
        }
      }
      slk.lock();
    }
  }

  void request_stop(std::string reason) {
    {
      std::lock_guard lk(stop_mu);
      if (!stop_requested) stop_reason = std::move(reason);
      stop_requested = true;
    }
    stop_cv.notify_all();
  }

  pb::BrokerToClient shutdown_message() const {  // with mu held
    pb::BrokerToClient m;
    m.mutable_shutdown()->set_reason(stopping_reason);
    return m;
  }

  void shutdown() {
    std::string reason;
    {
      std::lock_guard lk(stop_mu);
      if (shut_down) return;
      reason = stop_reason;  // may be empty: the client then just says it stopped
    }
    {
      // Clients first, so that they hear why before their jobs are cancelled.
      std::lock_guard lk(mu);
      stopping = true;
      stopping_reason = reason;
      for (auto& [id, c] : clients) c->out.push(shutdown_message());
      for (auto& [id, w] : workers) {
        pb::BrokerToWorker m;
        m.mutable_shutdown()->set_reason("the broker is stopping");
        w->out.push(std::move(m));
      }
    }
    // Give workers a moment to read Shutdown and hang up.
    for (int i = 0; i < 40; ++i) {
      {
        std::lock_guard lk(mu);
        if (workers.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    {
      std::lock_guard lk(stop_mu);
      shut_down = true;
    }
    stop_cv.notify_all();
    if (ticker.joinable()) ticker.join();
    http.reset();
  }
};

Broker::Broker(BrokerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& b = *impl_;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(mael::format("[::]:{}", b.opts.port), server_credentials(b.opts.tls), &b.port);
  builder.RegisterService(&b);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Peers ping every 10 s while idle; allow it.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // gRPC sets SO_REUSEPORT by default, which lets a second broker share the port (and split
  // the workers and clients between the two): a port in use must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  b.server = builder.BuildAndStart();
  if (!b.server || b.port == 0)
    throw UserError(
        mael::format("cannot listen on port {}: is it in use? choose another --port", b.opts.port));
  if (b.opts.http_port)
    b.http = std::make_unique<HttpServer>(*b.opts.http_port, [&b](const std::string& p) { return b.web(p); });
  b.ticker = std::thread([&b] { b.tick_loop(); });
}

Broker::~Broker() {
  impl_->shutdown();
}

uint16_t Broker::port() const {
  return impl_->port;
}

std::optional<uint16_t> Broker::http_port() const {
  if (!impl_->http) return std::nullopt;
  return impl_->http->port();
}

void Broker::wait() {
  {
    std::unique_lock lk(impl_->stop_mu);
    impl_->stop_cv.wait(lk, [&] { return impl_->stop_requested || impl_->shut_down; });
  }
  impl_->shutdown();
}

void Broker::stop(std::string reason) {
  impl_->request_stop(std::move(reason));
}

std::string Broker::status_json() const {
  return impl_->status_json();
}

}  // namespace mael::cluster
