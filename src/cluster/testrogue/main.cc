// mael-rogue-peer: a peer that does what the real programs never do, written
// with the project's generated gRPC stubs, for the cluster's end-to-end
// security tests (not installed). Every event is a JSON line on stdout.
//
//   worker  --broker A [credentials] [--slots N] [--download] [--forge TEXT] [--jobs N]
//           Registers as a worker, prints each job it is given (with its
//           environment), downloads its layers with --download, and answers
//           with a forged outcome (exit 0, stdout TEXT) with --forge.
//   broker  --port-file F --layer TAR --job FILE
//           A fake broker: a worker that connects is sent the job of FILE
//           (one JSON job, cluster/testclient/job_json.h) with TAR as its
//           layer; prints the worker's hello and the job's outcome.
//   client  --broker A [credentials] --jobs FILE [--uploads honest|hold|declare=N|parallel]
//           A client session. On the broker's artifact requests: honest
//           uploads each with its ticket; hold prints the request and uploads
//           once a line "go" arrives on stdin; declare=N streams N bytes of
//           zeros, declared as N; parallel starts every upload at once once all
//           requests are in, holds them open after the first chunk until
//           --expect-refused of them were refused (or 30 s passed), then
//           finishes the others.
//   upload  --broker A [credentials] --client-id N --digest HEX [--ticket HEX] --size N
//           An upload in another session's name: N bytes of zeros.
//   download --broker A [credentials] --digest HEX
//           Downloads a blob as a worker would.
// MAEL_ROGUE_PROTOCOL_VERSION in the environment sets the protocol version it
// claims (to try it against brokers and workers of earlier releases).
#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "cluster.grpc.pb.h"
#include "cluster/broker_connection.h"
#include "cluster/convert.h"
#include "cluster/protocol.h"
#include "cluster/security.h"
#include "cluster/testclient/job_json.h"

namespace mael {
namespace {

using nlohmann::json;
namespace pb = cluster::pb;

uint32_t protocol_version() {
  static const uint32_t v = [] {
    const char* e = std::getenv("MAEL_ROGUE_PROTOCOL_VERSION");
    return e && *e ? static_cast<uint32_t>(std::stoul(e)) : cluster::kProtocolVersion;
  }();
  return v;
}

std::mutex out_mu;
void emit(const json& j) {
  std::lock_guard lk(out_mu);
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

json status_json(const grpc::Status& st) {
  return {{"code", static_cast<int>(st.error_code())}, {"message", st.error_message()}};
}

struct Peer {
  std::string broker;
  cluster::TlsOptions tls;
  std::string token_file;
  std::unique_ptr<pb::Broker::Stub> stub;
  void connect() {
    if (!token_file.empty()) tls.token = cluster::read_token_file(token_file);
    auto channel =
        grpc::CreateCustomChannel(broker, cluster::channel_credentials(tls), cluster::channel_arguments());
    stub = pb::Broker::NewStub(channel);
  }
  void auth(grpc::ClientContext& ctx) const { cluster::add_auth(ctx, tls); }
};

void add_peer_options(CLI::App* app, Peer& p) {
  app->add_option("--broker", p.broker)->required();
  app->add_option("--tls-ca", p.tls.ca_file);
  app->add_option("--tls-cert", p.tls.cert_file);
  app->add_option("--tls-key", p.tls.key_file);
  app->add_option("--token-file", p.token_file);
}

// Streams `size` bytes (zeros, or the file's) as one upload; returns the status and the bytes the
// transport took before the broker ended the call.
struct UploadResult {
  grpc::Status status;
  uint64_t sent = 0;
};
UploadResult upload(const Peer& p, uint64_t client, const std::string& digest, const std::string& ticket,
                    uint64_t size, const std::string& file = "") {
  grpc::ClientContext ctx;
  p.auth(ctx);
  pb::UploadResult r;
  auto w = p.stub->UploadBlob(&ctx, &r);
  std::ifstream in;
  if (!file.empty()) in.open(file, std::ios::binary);
  pb::BlobChunk c;
  c.set_protocol_version(protocol_version());
  c.set_client_id(client);
  c.set_digest(digest);
  c.set_ticket(ticket);
  c.set_size(size);
  UploadResult out;
  std::string buf(cluster::kChunkSize, '\0');
  bool first = true;
  while (out.sent < size || first) {
    size_t n = std::min<uint64_t>(buf.size(), size - out.sent);
    if (!file.empty()) in.read(buf.data(), static_cast<std::streamsize>(n));
    c.set_data(buf.data(), n);
    if (!w->Write(c)) break;
    out.sent += n;
    first = false;
    c.Clear();
  }
  w->WritesDone();
  out.status = w->Finish();
  return out;
}

void download_blob(const Peer& p, const std::string& digest) {
  grpc::ClientContext ctx;
  p.auth(ctx);
  pb::BlobRequest req;
  req.set_protocol_version(protocol_version());
  req.set_digest(digest);
  auto reader = p.stub->DownloadBlob(&ctx, req);
  pb::BlobChunk c;
  uint64_t bytes = 0;
  while (reader->Read(&c)) bytes += c.data().size();
  emit({{"event", "download"},
        {"digest", hex(digest)},
        {"bytes", bytes},
        {"status", status_json(reader->Finish())}});
}

// ---- worker -------------------------------------------------------------------

int run_worker(Peer& p, uint32_t slots, bool download, const std::optional<std::string>& forge, int jobs) {
  p.connect();
  grpc::ClientContext ctx;
  p.auth(ctx);
  auto stream = p.stub->WorkerSession(&ctx);
  pb::WorkerToBroker hello;
  hello.mutable_hello()->set_protocol_version(protocol_version());
  hello.mutable_hello()->set_name("rogue");
  hello.mutable_hello()->set_slots(slots);
  stream->Write(hello);
  pb::BrokerToWorker m;
  int seen = 0;
  while (seen < jobs && stream->Read(&m)) {
    if (m.has_welcome()) emit({{"event", "welcome"}, {"id", m.welcome().id()}});
    if (!m.has_enqueue()) continue;
    ++seen;
    const auto& job = m.enqueue().job();
    json layers = json::array();
    for (const auto& l : job.layers()) layers.push_back(hex(l));
    emit({{"event", "job"},
          {"job_id", m.enqueue().job_id()},
          {"program", job.program()},
          {"environment", std::vector<std::string>(job.environment().begin(), job.environment().end())},
          {"layers", layers}});
    if (download)
      for (const auto& l : job.layers()) download_blob(p, l);
    if (forge) {
      pb::WorkerToBroker done;
      done.mutable_done()->set_job_id(m.enqueue().job_id());
      done.mutable_done()->mutable_outcome()->set_exited(0);
      done.mutable_done()->mutable_outcome()->mutable_stdout()->set_first(*forge);
      stream->Write(done);
    }
  }
  if (seen >= jobs) ctx.TryCancel();  // we hang up; otherwise the broker ended the session
  grpc::Status st = stream->Finish();
  emit({{"event", "end"}, {"jobs", seen}, {"status", status_json(st)}});
  return 0;
}

// ---- fake broker ------------------------------------------------------------------

class FakeBroker final : public pb::Broker::Service {
 public:
  FakeBroker(std::string layer_file, ResolvedJob job)
      : layer_file_(std::move(layer_file)), job_(std::move(job)) {}
  bool done() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(120), [&] { return done_; });
  }

  grpc::Status WorkerSession(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::BrokerToWorker, pb::WorkerToBroker>* stream) override {
    pb::WorkerToBroker m;
    if (!stream->Read(&m) || !m.has_hello()) return grpc::Status::OK;
    emit({{"event", "hello"},
          {"name", m.hello().name()},
          {"bind_mount_roots", std::vector<std::string>(m.hello().bind_mount_roots().begin(),
                                                        m.hello().bind_mount_roots().end())},
          {"local_network", m.hello().local_network()}});
    pb::BrokerToWorker w;
    w.mutable_welcome()->set_protocol_version(protocol_version());
    w.mutable_welcome()->set_id(1);
    stream->Write(w);
    pb::BrokerToWorker e;
    e.mutable_enqueue()->set_job_id(7);
    cluster::to_proto(job_, e.mutable_enqueue()->mutable_job());
    stream->Write(e);
    while (stream->Read(&m)) {
      if (!m.has_done()) continue;
      json j = testclient::outcome_json(cluster::from_proto(m.done().outcome()));
      j["event"] = "done";
      emit(j);
      std::lock_guard lk(mu_);
      done_ = true;
      cv_.notify_all();
      break;
    }
    ctx->TryCancel();
    return grpc::Status::OK;
  }

  grpc::Status DownloadBlob(grpc::ServerContext*, const pb::BlobRequest*,
                            grpc::ServerWriter<pb::BlobChunk>* writer) override {
    std::ifstream in(layer_file_, std::ios::binary);
    std::string buf(cluster::kChunkSize, '\0');
    pb::BlobChunk c;
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
      c.set_data(buf.data(), static_cast<size_t>(in.gcount()));
      writer->Write(c);
    }
    return grpc::Status::OK;
  }

 private:
  std::string layer_file_;
  ResolvedJob job_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

int run_broker(const std::string& port_file, const std::string& layer, const std::string& job_file) {
  std::map<Digest, std::string> blobs;
  std::vector<ResolvedJob> jobs = testclient::read_jobs(job_file, blobs);
  if (jobs.size() != 1) throw UserError("--job: give one job");
  jobs[0].layers = {Digest::of_file(layer)};
  FakeBroker service(layer, jobs[0]);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  std::ofstream(port_file) << port << "\n";
  bool ok = service.done();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return ok ? 0 : 1;
}

// ---- client -------------------------------------------------------------------

int run_client(Peer& p, const std::string& jobs_file, const std::string& mode, size_t expect_refused) {
  p.connect();
  std::map<Digest, std::string> blobs;
  std::vector<ResolvedJob> jobs = testclient::read_jobs(jobs_file, blobs);
  std::set<Digest> wanted;
  for (const auto& j : jobs) wanted.insert(j.layers.begin(), j.layers.end());
  grpc::ClientContext ctx;
  p.auth(ctx);
  auto stream = p.stub->ClientSession(&ctx);
  pb::ClientToBroker hello;
  hello.mutable_hello()->set_protocol_version(protocol_version());
  hello.mutable_hello()->set_name("rogue client");
  stream->Write(hello);
  pb::BrokerToClient m;
  if (!stream->Read(&m) || !m.has_welcome()) {
    emit({{"event", "refused"}, {"status", status_json(stream->Finish())}});
    return 1;
  }
  uint64_t id = m.welcome().id();
  emit({{"event", "welcome"}, {"id", id}});
  for (size_t i = 0; i < jobs.size(); ++i) {
    pb::ClientToBroker s;
    s.mutable_submit()->set_job_id(i + 1);
    cluster::to_proto(jobs[i], s.mutable_submit()->mutable_job());
    stream->Write(s);
  }
  struct Request {
    Digest digest;
    std::string ticket;
  };
  std::vector<Request> requests;
  std::vector<std::thread> threads;
  size_t done = 0;
  auto honest = [&](const Request& r) {
    auto res = upload(p, id, cluster::digest_bytes(r.digest), r.ticket,
                      std::filesystem::file_size(blobs.at(r.digest)), blobs.at(r.digest));
    emit({{"event", "upload"},
          {"digest", r.digest.hex()},
          {"sent", res.sent},
          {"status", status_json(res.status)}});
  };
  // parallel: every upload opened with its first chunk, held until enough were refused.
  auto parallel = [&] {
    std::mutex mu;
    std::condition_variable cv;
    size_t refused = 0;
    bool release = false;
    struct Open {
      grpc::ClientContext ctx;
      pb::UploadResult r;
      std::unique_ptr<grpc::ClientWriter<pb::BlobChunk>> w;
    };
    std::vector<std::unique_ptr<Open>> open;
    std::vector<std::thread> finishers;
    for (const Request& r : requests) {
      auto o = std::make_unique<Open>();
      p.auth(o->ctx);
      o->w = p.stub->UploadBlob(&o->ctx, &o->r);
      std::ifstream in(blobs.at(r.digest), std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      pb::BlobChunk c;
      c.set_protocol_version(protocol_version());
      c.set_client_id(id);
      c.set_digest(cluster::digest_bytes(r.digest));
      c.set_ticket(r.ticket);
      c.set_size(data.size());
      c.set_data(data.substr(0, data.size() - 1));
      o->w->Write(c);
      Open* raw = o.get();
      std::string last = data.substr(data.size() - 1);
      std::string hex_digest = r.digest.hex();
      finishers.emplace_back([&, raw, last, hex_digest] {
        // A refused upload ends without our finishing it: then a write fails, and Finish says why.
        pb::BlobChunk tail;
        tail.set_data(last);
        grpc::Status st;
        // Wait for release, polling whether the broker ended the call meanwhile (a write then fails).
        for (;;) {
          {
            std::unique_lock lk(mu);
            if (cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return release; })) break;
          }
          if (!raw->w->Write(pb::BlobChunk())) {  // an empty chunk changes nothing on an open upload
            raw->w->WritesDone();
            st = raw->w->Finish();
            emit({{"event", "upload"}, {"digest", hex_digest}, {"held", false}, {"status", status_json(st)}});
            std::lock_guard lk(mu);
            if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++refused;
            cv.notify_all();
            return;
          }
        }
        raw->w->Write(tail);
        raw->w->WritesDone();
        st = raw->w->Finish();
        emit({{"event", "upload"}, {"digest", hex_digest}, {"held", true}, {"status", status_json(st)}});
      });
      open.push_back(std::move(o));
    }
    {
      std::unique_lock lk(mu);
      cv.wait_for(lk, std::chrono::seconds(30), [&] { return refused >= expect_refused; });
      emit({{"event", "parallel"}, {"refused", refused}});
      release = true;
      cv.notify_all();
    }
    for (auto& t : finishers) t.join();
    ctx.TryCancel();  // the refused uploads' jobs would wait forever: the session ends here
  };
  while (done < jobs.size() && stream->Read(&m)) {
    if (m.has_artifact_request()) {
      Request r{cluster::digest_from_bytes(m.artifact_request().digest()), m.artifact_request().ticket()};
      emit({{"event", "request"}, {"client_id", id}, {"digest", r.digest.hex()}, {"ticket", hex(r.ticket)}});
      requests.push_back(r);
      if (mode == "honest") {
        threads.emplace_back([&, r] { honest(r); });
      } else if (mode == "hold") {
        std::string line;
        std::getline(std::cin, line);  // "go"
        threads.emplace_back([&, r] { honest(r); });
      } else if (mode.rfind("declare=", 0) == 0) {
        uint64_t n = std::stoull(mode.substr(8));
        threads.emplace_back([&, r, n] {
          auto res = upload(p, id, cluster::digest_bytes(r.digest), r.ticket, n);
          emit({{"event", "upload"},
                {"digest", r.digest.hex()},
                {"declared", n},
                {"sent", res.sent},
                {"status", status_json(res.status)}});
        });
      } else if (mode == "parallel" && requests.size() == wanted.size()) {
        threads.emplace_back(parallel);
      }
    }
    if (m.has_done()) {
      ++done;
      json j = testclient::outcome_json(cluster::from_proto(m.done().outcome()));
      j["event"] = "done";
      j["job_id"] = m.done().job_id();
      emit(j);
    }
  }
  for (auto& t : threads) t.join();
  ctx.TryCancel();
  stream->Finish();
  return 0;
}

int main_impl(int argc, char** argv) {
  CLI::App app{"A misbehaving cluster peer (test tool).", "mael-rogue-peer"};
  return run_tool("mael-rogue-peer", app, [&] {
    app.require_subcommand(1);
    Peer peer;
    uint32_t slots = 4;
    bool download = false;
    std::optional<std::string> forge;
    int jobs = 1;
    auto* worker = app.add_subcommand("worker", "register as a worker");
    add_peer_options(worker, peer);
    worker->add_option("--slots", slots);
    worker->add_flag("--download", download);
    worker->add_option("--forge", forge);
    worker->add_option("--jobs", jobs, "stop after this many jobs");

    std::string port_file, layer, job_file;
    auto* broker = app.add_subcommand("broker", "serve one job to a worker as a fake broker");
    broker->add_option("--port-file", port_file)->required();
    broker->add_option("--layer", layer)->required();
    broker->add_option("--job", job_file)->required();

    std::string jobs_file, mode = "honest";
    size_t expect_refused = 1;
    auto* client = app.add_subcommand("client", "a client session with rogue uploads");
    add_peer_options(client, peer);
    client->add_option("--jobs", jobs_file)->required();
    client->add_option("--uploads", mode);
    client->add_option("--expect-refused", expect_refused);

    uint64_t client_id = 0, size = 0;
    std::string digest, ticket;
    auto* up = app.add_subcommand("upload", "upload in another session's name");
    add_peer_options(up, peer);
    up->add_option("--client-id", client_id)->required();
    up->add_option("--digest", digest)->required();
    up->add_option("--ticket", ticket);
    up->add_option("--size", size)->required();

    std::string download_digest;
    auto* down = app.add_subcommand("download", "download a blob as a worker would");
    add_peer_options(down, peer);
    down->add_option("--digest", download_digest)->required();

    app.parse(argc, argv);
    init_logging("warning");
    cluster::quiet_grpc_logging();
    if (worker->parsed()) return run_worker(peer, slots, download, forge, jobs);
    if (broker->parsed()) return run_broker(port_file, layer, job_file);
    if (client->parsed()) return run_client(peer, jobs_file, mode, expect_refused);
    peer.connect();
    if (down->parsed()) {
      download_blob(peer, cluster::digest_bytes(Digest::from_hex(download_digest)));
      return 0;
    }
    auto res = upload(peer, client_id, cluster::digest_bytes(Digest::from_hex(digest)), unhex(ticket), size);
    emit({{"event", "upload"}, {"sent", res.sent}, {"status", status_json(res.status)}});
    return 0;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
