#include "cluster/broker.h"

#include <fcntl.h>
#include <openssl/evp.h>
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
#include "cluster/local_features.h"
#include "cluster/outbox.h"
#include "cluster/peer_text.h"
#include "cluster/scheduler.h"
#include "cluster/upload_ticket.h"
#include "cluster/web_assets.h"
#include "store/artifact_store.h"

namespace mael::cluster {

namespace {

using Clock = std::chrono::steady_clock;

// Names a peer gives itself are cut to this many bytes (after escaping).
constexpr size_t kMaxNameBytes = 128;
// Per-client charts keep this many samples (one a second).
constexpr size_t kClientHistory = 300;
// An upload that sends nothing for this long is cut off: it holds an upload slot.
constexpr std::chrono::seconds kUploadStall{60};

std::string version_mismatch(uint32_t theirs, const char* who) {
  return mael::format(
      "protocol version mismatch: the broker speaks version {}, this {} speaks version {}; run the same "
      "Maelstrom release on broker, workers and clients",
      kProtocolVersion, who, theirs);
}

std::string peer_name(const grpc::ServerContext* ctx) {
  return peer_text(peer_address(ctx->peer()));
}

struct HistorySample {
  double t;
  size_t waiting, queued, assigned, running;
  uint64_t completed;
};

nlohmann::json history_json(const std::deque<HistorySample>& history) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& h : history)
    a.push_back({{"t", h.t},
                 {"waiting", h.waiting},
                 {"queued", h.queued},
                 {"assigned", h.assigned},
                 {"running", h.running},
                 {"completed", h.completed}});
  return a;
}

// The token in an HTTP Authorization header: "Bearer TOKEN", or Basic with the
// token as password (what a browser asks for), any user name.
std::optional<std::string> http_token(const std::optional<std::string>& header) {
  if (!header) return std::nullopt;
  if (header->rfind("Bearer ", 0) == 0) return header->substr(7);
  if (header->rfind("Basic ", 0) != 0) return std::nullopt;
  std::string in = header->substr(6);
  std::string out(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '\0') out.pop_back();  // base64 padding
  auto colon = out.find(':');
  return colon == std::string::npos ? out : out.substr(colon + 1);
}

}  // namespace

struct Broker::Impl final : pb::Broker::Service, SchedulerSink {
  struct ClientConn {
    std::string name, peer;
    Identity who;
    Outbox<pb::BrokerToClient> out;
    size_t uploads = 0;                 // in progress (under mu)
    uint64_t upload_bytes = 0;          // their declared sizes (under mu)
    std::deque<HistorySample> history;  // under mu
  };
  struct WorkerConn {
    std::string name, peer;
    size_t slots;
    WorkerFeatures features;
    grpc::ServerContext* ctx;
    Clock::time_point last_seen;
    Outbox<pb::BrokerToWorker> out;
  };
  struct Uploaded {
    ClientId client;
    uint64_t size;
  };

  BrokerOptions opts;
  ConnectionGuard guard;
  ArtifactStore store;
  UploadTickets tickets;
  mutable std::mutex mu;  // guards everything below and the scheduler
  Scheduler sched;
  std::map<ClientId, std::shared_ptr<ClientConn>> clients;
  std::map<WorkerId, std::shared_ptr<WorkerConn>> workers;
  std::map<Digest, Uploaded> uploaded;  // blobs clients uploaded, while jobs may hold them
  size_t uploads = 0;                   // in progress, all clients
  std::map<grpc::ServerContext*, Clock::time_point> upload_progress;  // each upload's last chunk
  std::deque<HistorySample> history;
  Clock::time_point started = Clock::now();
  Clock::time_point no_workers_since = started;  // meaningful while workers is empty
  uint64_t next_id = 1;

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
        guard(opts.connections, raise_fd_limit()),
        store(opts.cache_root, opts.cache_size),
        sched(*this,
              BlobPins{[this](const Digest& d) { return store.pin_blob(d); },
                       [this](const Digest& d) { store.unpin_blob(d); }},
              SchedulerOptions{opts.max_job_losses, 2}) {
    if (!opts.tls.token.empty())
      throw std::invalid_argument("BrokerOptions: the broker's tokens are per role, in auth, not tls.token");
    opts.auth.certificates = !opts.tls.ca_file.empty();
    check_broker_auth(opts.auth);
  }

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
    m.mutable_artifact_request()->set_ticket(tickets.issue(c, d));
    it->second->out.push(std::move(m));
  }

  // ---- who may do what --------------------------------------------------------

  // OK when the caller authenticates and holds `need`; otherwise the refusal,
  // logged with the peer. `what` completes "needed to ...".
  grpc::Status authorize(grpc::ServerContext* ctx, Role need, const char* what, Identity* who) {
    std::optional<std::string> token = peer_token(*ctx);
    grpc::Status st = identify(opts.auth, peer_certificate(*ctx), token, who);
    if (st.ok()) {
      who->name = peer_text(who->name, kMaxNameBytes);
      st = require_role(opts.auth, *who, need, what);
    }
    if (!st.ok()) {
      log::warn("refused {} from {}: {}", role_name(need), peer_name(ctx), st.error_message());
      return st;
    }
    guard.proven(ctx->peer());
    return st;
  }

  // A request from a peer of another protocol version: logged, and refused
  // with a message naming both versions.
  grpc::Status refuse_version(grpc::ServerContext* ctx, const char* what, uint32_t theirs, const char* who) {
    std::string why = version_mismatch(theirs, who);
    log::warn("refused {} from {}: {}", what, peer_name(ctx), why);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
  }

  pb::BrokerToClient cluster_state() const {  // with mu held
    pb::BrokerToClient m;
    auto* c = m.mutable_cluster();
    size_t slots = 0;
    for (const auto& [id, w] : workers) slots += w->slots;
    c->set_workers(static_cast<uint32_t>(workers.size()));
    c->set_slots(static_cast<uint32_t>(slots));
    c->set_no_worker_timeout_ms(static_cast<uint64_t>(opts.no_worker_timeout.count()));
    return m;
  }
  void broadcast_cluster_state() {  // with mu held
    if (stopping) return;
    for (auto& [id, c] : clients) c->out.push(cluster_state());
  }

  // ---- gRPC service ---------------------------------------------------------

  grpc::Status ClientSession(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::BrokerToClient, pb::ClientToBroker>* stream) override {
    Identity who;
    if (auto st = authorize(ctx, Role::Client, "submit jobs", &who); !st.ok()) return st;
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
      log::warn("refused client {} from {}: {}", peer_text(msg.hello().name(), kMaxNameBytes), peer_name(ctx),
                why);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
    }
    auto conn = std::make_shared<ClientConn>();
    conn->name = peer_text(msg.hello().name(), kMaxNameBytes);
    conn->peer = peer_name(ctx);
    conn->who = who;
    {
      std::lock_guard lk(mu);
      clients[id] = conn;
      sched.add_client(id);
      if (stopping)
        conn->out.push(shutdown_message());  // arrived as the broker stops
      else
        conn->out.push(cluster_state());
    }
    log::info("client {} ({}) connected from {} as {}", id, conn->name, conn->peer, who.name);
    std::thread writer = start_writer(stream, conn->out);
    while (stream->Read(&msg)) {
      std::lock_guard lk(mu);
      switch (msg.msg_case()) {
        case pb::ClientToBroker::kSubmit: submit(id, msg.submit()); break;
        case pb::ClientToBroker::kCancel: sched.cancel(id, msg.cancel().job_id()); break;
        case pb::ClientToBroker::kArtifactUnavailable:
          try {
            Digest d = digest_from_bytes(msg.artifact_unavailable().digest());
            std::string why = peer_text(msg.artifact_unavailable().message(), 1000);
            log::warn("client {} cannot provide {}: {}", id, d.hex(), why);
            sched.artifact_failed(id, d,
                                  mael::format("client could not upload layer sha256:{}: {}", d.hex(), why));
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

  void submit(ClientId id, const pb::SubmitJob& s) {  // with mu held
    try {
      ResolvedJob job = from_proto(s.job());
      if (job.must_run_locally()) {
        // Only workers whose own configuration allows it run such a job.
        std::string why;
        bool fits = false;
        for (const auto& [wid, w] : workers) {
          auto refusal = local_features_refusal(job, w->features, w->name, false);
          if (!refusal) fits = true;
          if (refusal && why.empty()) why = *refusal;
        }
        if (!fits)
          throw UserError(mael::format(
              "no worker runs this job: it has bind mounts or network = \"local\", which a worker runs "
              "from the broker only if its allow-bind-mounts or allow-local-network says so{}; clients run "
              "such jobs on their own machine",
              why.empty() ? "" : " (" + why + ")"));
      }
      sched.submit(id, s.job_id(), std::move(job));
    } catch (const UserError& e) {
      log::info("client {}: rejected job {}: {}", id, s.job_id(), e.what());
      sched.reject(id, s.job_id(), e.what());
    }
  }

  grpc::Status WorkerSession(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::BrokerToWorker, pb::WorkerToBroker>* stream) override {
    Identity who;
    if (auto st = authorize(ctx, Role::Worker, "run jobs as a worker", &who); !st.ok()) return st;
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
    const auto& hello = msg.hello();
    if (hello.protocol_version() != kProtocolVersion) {
      std::string why = version_mismatch(hello.protocol_version(), "worker");
      log::warn("refused worker {} from {}: {}", peer_text(hello.name(), kMaxNameBytes), peer_name(ctx), why);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
    }
    if (hello.slots() == 0 || hello.slots() > kMaxWorkerSlots)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          mael::format("a worker has 1 to {} slots, not {}", kMaxWorkerSlots, hello.slots()));
    auto conn = std::make_shared<WorkerConn>();
    conn->name = peer_text(hello.name(), kMaxNameBytes);
    conn->peer = peer_name(ctx);
    conn->slots = hello.slots();
    conn->features.bind_mount_roots.assign(hello.bind_mount_roots().begin(), hello.bind_mount_roots().end());
    conn->features.local_network = hello.local_network();
    conn->ctx = ctx;
    conn->last_seen = Clock::now();
    std::thread writer = start_writer(stream, conn->out);
    {
      std::lock_guard lk(mu);
      workers[id] = conn;
      sched.add_worker(id, conn->slots, conn->features);
      broadcast_cluster_state();
    }
    log::info("worker {} ({}, {} slots) connected from {} as {}", id, conn->name, conn->slots, conn->peer,
              who.name);
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
      if (workers.empty()) no_workers_since = Clock::now();
      broadcast_cluster_state();
    }
    conn->out.close();
    ctx->TryCancel();
    writer.join();
    log::info("worker {} ({}) disconnected", id, conn->name);
    return grpc::Status::OK;
  }

  // Bytes of this client's uploads that live jobs may still need, plus those in progress. With mu.
  uint64_t client_cache_use(ClientId c, const ClientConn& conn) {
    uint64_t used = conn.upload_bytes;
    for (auto it = uploaded.begin(); it != uploaded.end();) {
      if (!sched.holds(it->first)) {
        it = uploaded.erase(it);
        continue;
      }
      if (it->second.client == c) used += it->second.size;
      ++it;
    }
    return used;
  }

  grpc::Status UploadBlob(grpc::ServerContext* ctx, grpc::ServerReader<pb::BlobChunk>* reader,
                          pb::UploadResult*) override {
    Identity who;
    if (auto st = authorize(ctx, Role::Client, "upload layers", &who); !st.ok()) return st;
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
    if (!tickets.valid(client, d, chunk.ticket())) {
      log::warn(
          "refused upload of sha256:{} from {} ({}): its ticket is not the one the broker gave client {}",
          d.hex(), peer_name(ctx), who.name, client);
      return grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          "upload refused: its ticket is not one the broker issued to this client session for "
          "this layer");
    }
    const uint64_t size = chunk.size();
    const uint64_t cache_size = opts.cache_size;
    const uint64_t largest = opts.max_upload_size ? std::min(opts.max_upload_size, cache_size) : cache_size;
    const uint64_t share = opts.client_cache_limit ? opts.client_cache_limit : cache_size;
    std::shared_ptr<ClientConn> conn;
    {
      std::lock_guard lk(mu);
      if (store.has_blob(d)) return grpc::Status::OK;
      auto it = clients.find(client);
      // ABORTED: typically the job that wanted it was cancelled meanwhile.
      if (it == clients.end() || !sched.artifact_expected(client, d))
        return grpc::Status(grpc::StatusCode::ABORTED,
                            mael::format("the broker did not ask this client for sha256:{}", d.hex()));
      conn = it->second;
      if (size > largest || size > share) {
        std::string why = mael::format(
            "layer sha256:{} is {} bytes, more than the broker takes from a client ({} bytes: its {}); make "
            "the layer smaller or raise that on the broker",
            d.hex(), size, std::min(largest, share),
            size > largest ? (opts.max_upload_size && opts.max_upload_size < cache_size ? "max-upload-size"
                                                                                        : "cache-size")
                           : "client-cache-limit");
        log::warn("client {} ({}): {}", client, conn->name, why);
        sched.artifact_failed(client, d, why);
        return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, why);
      }
      if (conn->uploads >= opts.max_uploads_per_client)
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "too many uploads at once from this client; retry");
      if (uploads >= opts.max_concurrent_uploads)
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many uploads at once; retry");
      // With a share of its own, a client's layers come one job at a time, its first waiting job's
      // first: layers of later jobs taken early could fill the share while no job has all of its
      // own, and then none would ever end and make room.
      if (opts.client_cache_limit && !sched.first_waiting_job_needs(client, d))
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "this client's layers come one job at a time (client-cache-limit); retry");
      if (client_cache_use(client, *conn) + size > share) {
        std::string why = mael::format(
            "this client's layers fill its share of the broker's cache ({} bytes: "
            "client-cache-limit)",
            share);
        if (conn->uploads > 0 || sched.client_has_runnable_jobs(client))
          return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              why + "; retry when some of its jobs have ended");
        // Every job of this client waits for layers and none of its uploads is under way: none
        // will end and make room.
        why = mael::format(
            "layer sha256:{}: {}, and every job of this client waits for layers; raise "
            "client-cache-limit on the broker or send fewer jobs at once",
            d.hex(), why);
        log::warn("client {} ({}): {}", client, conn->name, why);
        sched.artifact_failed(client, d, why);
        return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, why);
      }
      conn->uploads++;
      conn->upload_bytes += size;
      uploads++;
      upload_progress[ctx] = Clock::now();
    }
    struct Release {
      Impl& b;
      ClientConn& c;
      uint64_t size;
      grpc::ServerContext* ctx;
      ~Release() {
        std::lock_guard lk(b.mu);
        c.uploads--;
        c.upload_bytes -= size;
        b.uploads--;
        b.upload_progress.erase(ctx);
      }
    } release{*this, *conn, size, ctx};
    // The client's fault: its jobs that need the blob fail with `why`.
    auto fail = [&](grpc::StatusCode code, const std::string& why) {
      log::warn("client {} ({}) from {}: {}", client, conn->name, peer_name(ctx), why);
      std::lock_guard lk(mu);
      sched.artifact_failed(client, d, why);
      return grpc::Status(code, why);
    };
    uint64_t got = 0;
    try {
      auto writer = store.begin_blob(d);
      do {
        got += chunk.data().size();
        // Cut off before writing a byte beyond what was declared (and checked against the limits).
        if (got > size)
          return fail(
              grpc::StatusCode::INVALID_ARGUMENT,
              mael::format("upload of layer sha256:{} is longer than its declared {} bytes", d.hex(), size));
        writer.write(chunk.data().data(), chunk.data().size());
        if (!chunk.data().empty()) {
          std::lock_guard lk(mu);
          upload_progress[ctx] = Clock::now();
        }
      } while (reader->Read(&chunk));
      if (ctx->IsCancelled() || got != size)
        return grpc::Status(grpc::StatusCode::CANCELLED, "upload ended early");
      writer.commit();
    } catch (const UserError& e) {
      return fail(grpc::StatusCode::INVALID_ARGUMENT,
                  mael::format("layer sha256:{} uploaded by the client does not match its digest: {}",
                               d.hex(), e.what()));
    } catch (const std::exception& e) {
      log::error("storing sha256:{} failed: {}", d.hex(), e.what());
      std::lock_guard lk(mu);
      sched.artifact_failed(client, d,
                            mael::format("broker could not store layer sha256:{}: {}", d.hex(), e.what()));
      return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
    }
    log::debug("stored sha256:{} ({} bytes) from client {}", d.hex(), size, client);
    std::lock_guard lk(mu);
    uploaded[d] = Uploaded{client, size};
    sched.artifact_ready(d);
    return grpc::Status::OK;
  }

  grpc::Status DownloadBlob(grpc::ServerContext* ctx, const pb::BlobRequest* req,
                            grpc::ServerWriter<pb::BlobChunk>* writer) override {
    Identity who;
    if (auto st = authorize(ctx, Role::Worker, "download layers", &who); !st.ok()) return st;
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
    Identity who;
    if (auto st = authorize(ctx, Role::Admin, "read the broker's status", &who); !st.ok()) return st;
    if (req->protocol_version() != kProtocolVersion)
      return refuse_version(ctx, "status request", req->protocol_version(), "admin tool");
    reply->set_json(status_json());
    return grpc::Status::OK;
  }

  grpc::Status Stop(grpc::ServerContext* ctx, const pb::StopRequest* req, pb::StopReply*) override {
    Identity who;
    if (auto st = authorize(ctx, Role::Admin, "stop the broker", &who); !st.ok()) return st;
    if (req->protocol_version() != kProtocolVersion)
      return refuse_version(ctx, "stop request", req->protocol_version(), "admin tool");
    log::info("stop requested by {} from {}", who.name, peer_name(ctx));
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
    for (const auto& pc : s.per_client) {
      auto it = clients.find(pc.id);
      if (it == clients.end()) continue;
      const ClientConn& c = *it->second;
      j["clients"].push_back({{"id", pc.id},
                              {"name", c.name},
                              {"peer", c.peer},
                              {"identity", c.who.name},
                              {"waiting_for_artifacts", pc.waiting_for_artifacts},
                              {"queued", pc.queued},
                              {"assigned", pc.assigned},
                              {"running", pc.running},
                              {"completed", pc.completed},
                              {"history", history_json(c.history)}});
    }
    j["slots"] = slots;
    j["waiting_for_artifacts"] = s.waiting_for_artifacts;
    j["queued"] = s.queued;
    j["assigned"] = s.assigned;
    j["running"] = s.running;
    j["completed"] = s.completed;
    j["pinned_blobs"] = sched.pinned_blobs();
    auto now = Clock::now();
    j["uptime_s"] = std::chrono::duration<double>(now - started).count();
    j["no_worker_timeout_s"] = std::chrono::duration<double>(opts.no_worker_timeout).count();
    if (workers.empty())
      j["no_workers_for_s"] = std::chrono::duration<double>(now - no_workers_since).count();
    ConnectionGuard::Stats cs = guard.stats();
    j["connections"] = {{"open", cs.connections},
                        {"max", guard.max_connections()},
                        {"refused", cs.refused},
                        {"dropped", cs.dropped}};
    j["history"] = history_json(history);
    return j.dump();
  }

  HttpResponse web(const HttpRequest& req) {
    if (opts.auth.on()) {
      Identity who;
      grpc::Status st = identify(opts.auth, req.client_cert_pem, http_token(req.authorization), &who);
      if (st.ok()) st = require_role(opts.auth, who, Role::Admin, "see the status page");
      if (!st.ok()) {
        log::info("refused the status page to a browser: {}", st.error_message());
        HttpResponse r{401, "text/plain; charset=utf-8",
                       "The broker's status page is for its admins: " + st.error_message() +
                           ". With tokens, give the admin token as the password.\n"};
        if (opts.auth.tokens()) r.headers.push_back({"WWW-Authenticate", "Basic realm=\"maelstrom-broker\""});
        return r;
      }
    }
    if (req.path == "/api/status") return {200, "application/json", status_json()};
    std::string name = req.path == "/" ? "index.html" : req.path.substr(1);
    if (auto a = web_asset(name)) {
      std::string type = name.ends_with(".html")  ? "text/html; charset=utf-8"
                         : name.ends_with(".js")  ? "text/javascript"
                         : name.ends_with(".css") ? "text/css"
                                                  : "application/octet-stream";
      return {200, type, std::string(*a)};
    }
    return {404, "text/plain", "not found\n"};
  }

  // Twice a second: drop silent workers, fail jobs that waited too long for any
  // worker; once a second, sample the counts for the charts.
  void tick_loop() {
    std::unique_lock slk(stop_mu);
    while (!shut_down) {
      stop_cv.wait_for(slk, std::chrono::milliseconds(500));
      if (shut_down) break;
      slk.unlock();
      guard.flush_log();
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
        for (auto& [ctx, last] : upload_progress)
          if (now - last > kUploadStall) {
            log::warn("cutting off an upload from {} that sent nothing for {} s", peer_name(ctx),
                      std::chrono::duration_cast<std::chrono::seconds>(kUploadStall).count());
            last = now;  // once
            ctx->TryCancel();
          }
        if (workers.empty() && opts.no_worker_timeout.count() > 0 && !stopping &&
            now - no_workers_since >= opts.no_worker_timeout && sched.stats().queued > 0) {
          std::string why = mael::format(
              "no worker has been connected to the broker for {} s (its no-worker-timeout): start "
              "maelstrom-worker with --broker pointing at it, or check the workers' logs",
              std::chrono::duration_cast<std::chrono::seconds>(opts.no_worker_timeout).count());
          log::warn("failing the queued jobs: {}", why);
          sched.fail_queued(why);
        }
        if (opts.no_worker_timeout.count() > 0 && !stopping)
          sched.fail_unplaceable(
              now, opts.no_worker_timeout,
              mael::format(
                  "no connected worker has run this job for {} s (its no-worker-timeout): it has bind mounts "
                  "or network = \"local\", which a worker runs only if its allow-bind-mounts or "
                  "allow-local-network says so",
                  std::chrono::duration_cast<std::chrono::seconds>(opts.no_worker_timeout).count()));
        double t = std::chrono::duration<double>(now - started).count();
        if (history.empty() || t - history.back().t >= 1.0) {
          SchedulerStats s = sched.stats();
          history.push_back({t, s.waiting_for_artifacts, s.queued, s.assigned, s.running, s.completed});
          if (history.size() > 600) history.pop_front();
          for (const auto& pc : s.per_client) {
            auto it = clients.find(pc.id);
            if (it == clients.end()) continue;
            auto& h = it->second->history;
            h.push_back({t, pc.waiting_for_artifacts, pc.queued, pc.assigned, pc.running, pc.completed});
            if (h.size() > kClientHistory) h.pop_front();
          }
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

  void warn_about_setup() const {
    if (!opts.auth.on())
      log::warn(
          "no authentication: anyone who reaches port {} can run jobs as a client, serve as a worker and "
          "stop "
          "the broker; give it tls-ca or the role token files on a shared network (docs/cluster.md)",
          port);
    else if (opts.auth.tokens() && !opts.tls.tls())
      log::warn("tokens without TLS travel in clear text: give the broker --tls-cert and --tls-key");
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
  // A connection that does not finish its handshake (TLS and the HTTP/2 settings) in time is
  // closed, and so is one without a call for as long: clients and workers keep a session open.
  const int handshake_ms = static_cast<int>(b.opts.handshake_timeout.count());
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, handshake_ms);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, handshake_ms);
  // gRPC sets SO_REUSEPORT by default, which lets a second broker share the port (and split
  // the workers and clients between the two): a port in use must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  b.guard.install(builder);
  b.server = builder.BuildAndStart();
  if (!b.server || b.port == 0)
    throw UserError(
        mael::format("cannot listen on port {}: is it in use? choose another --port", b.opts.port));
  b.guard.started();
  if (b.opts.http_port) {
    HttpServerOptions h{.address = b.opts.http_address, .port = *b.opts.http_port};
    if (b.opts.tls.tls()) {
      h.cert_pem = read_pem(b.opts.tls.cert_file, "TLS certificate");
      h.key_pem = read_pem(b.opts.tls.key_file, "TLS key");
      if (!b.opts.tls.ca_file.empty()) h.ca_pem = read_pem(b.opts.tls.ca_file, "CA certificate");
    }
    b.http = std::make_unique<HttpServer>(std::move(h), [&b](const HttpRequest& r) { return b.web(r); });
  }
  b.warn_about_setup();
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
