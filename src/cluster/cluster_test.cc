// Broker, worker and broker connection in one process over real loopback gRPC,
// with a fake container runner: checks the protocol, the artifact relay and
// the fault handling without needing containers.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.h"
#include "cluster.grpc.pb.h"
#include "cluster/admin.h"
#include "cluster/broker.h"
#include "cluster/broker_connection.h"
#include "cluster/convert.h"
#include "cluster/protocol.h"
#include "cluster/test_worker.h"
#include "cluster/worker.h"
#include "container/runtime.h"
#include "store/artifact_store.h"

namespace mael::cluster {
namespace {

namespace fs = std::filesystem;
using mael::testing::TempDir;
using ::testing::HasSubstr;

// A minimal ustar archive holding one regular file.
std::string make_tar(const std::string& name, const std::string& content) {
  std::string h(512, '\0');
  auto put = [&](size_t off, const std::string& s) { h.replace(off, s.size(), s); };
  put(0, name);
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  char size[12];
  std::snprintf(size, sizeof size, "%011o", static_cast<unsigned>(content.size()));
  put(124, size);
  put(136, "00000000000");
  put(148, "        ");
  h[156] = '0';
  put(257, "ustar");
  put(263, "00");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  put(148, std::string(chk, 6) + std::string("\0 ", 2));
  std::string body = content + std::string((512 - content.size() % 512) % 512, '\0');
  return h + body + std::string(1024, '\0');
}

// n distinct one-file layers of 2048 bytes each, and a client's provider for them.
struct Layers {
  std::map<Digest, fs::path> files;
  std::vector<Digest> digests;
  Layers(const fs::path& dir, const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      fs::path p = dir / (prefix + std::to_string(i) + ".tar");
      std::ofstream(p) << make_tar("f", prefix + " " + std::to_string(i) + "\n");
      digests.push_back(Digest::of_file(p));
      files[digests.back()] = p;
    }
  }
  BrokerConnection::BlobProvider provider() const {
    return [this](const Digest& d) -> std::optional<fs::path> {
      auto it = files.find(d);
      if (it == files.end()) return std::nullopt;
      return it->second;
    };
  }
};

// Counts the jobs that exited and keeps the others' errors.
struct Tally {
  std::atomic<int> ok{0};
  std::mutex mu;
  std::vector<std::string> errors;
  BrokerConnection::DoneCallback on_done() {
    return [this](JobOutcome o) {
      if (std::holds_alternative<Exited>(o.result)) {
        ok++;
        return;
      }
      std::lock_guard lk(mu);
      errors.push_back(std::get<JobError>(o.result).message);
    };
  }
  std::string first_error() {
    std::lock_guard lk(mu);
    return errors.empty() ? "" : errors.front();
  }
};

struct Outcome {
  JobOutcome outcome;
  std::vector<std::string> states;
};

// Collects one job's states and outcome.
struct Probe {
  std::mutex mu;
  std::vector<std::string> states;
  std::promise<JobOutcome> done;
  BrokerConnection::StateCallback on_state() {
    return [this](JobState s, const std::string& worker) {
      std::lock_guard lk(mu);
      states.push_back(std::to_string(static_cast<int>(s)) + (worker.empty() ? "" : " " + worker));
    };
  }
  BrokerConnection::DoneCallback on_done() {
    return [this](JobOutcome o) { done.set_value(std::move(o)); };
  }
  JobOutcome get() { return done.get_future().get(); }
};

// A worker speaking the protocol by hand: it says hello, records the jobs it
// is given and otherwise does nothing: never a heartbeat, never an answer.
struct RawWorker {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Broker::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::WorkerToBroker, pb::BrokerToWorker>> stream;
  std::thread reader;
  std::mutex mu;
  std::condition_variable cv;
  size_t enqueued = 0;
  bool closed = false;

  RawWorker(const std::string& address, uint32_t slots)
      : channel(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub(pb::Broker::NewStub(channel)),
        stream(stub->WorkerSession(&ctx)) {
    pb::WorkerToBroker hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_name("raw");
    hello.mutable_hello()->set_slots(slots);
    stream->Write(hello);
    reader = std::thread([this] {
      pb::BrokerToWorker m;
      while (stream->Read(&m)) {
        std::lock_guard lk(mu);
        if (m.has_enqueue()) enqueued++;
        cv.notify_all();
      }
      std::lock_guard lk(mu);
      closed = true;
      cv.notify_all();
    });
  }
  ~RawWorker() { hang_up(); }
  bool wait_enqueued(size_t n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(60), [&] { return enqueued >= n; });
  }
  bool wait_closed() {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(60), [&] { return closed; });
  }
  void hang_up() {
    if (!reader.joinable()) return;
    ctx.TryCancel();
    reader.join();
    stream->Finish();
  }
};

struct ClusterTest : ::testing::Test {
  TempDir dir;
  std::unique_ptr<Broker> broker;
  std::string address;
  fs::path layer_path;
  Digest layer;

  void SetUp() override {
    layer_path = dir.path() / "layer.tar";
    std::ofstream(layer_path) << make_tar("hello.txt", "hello\n");
    layer = Digest::of_file(layer_path);
    start_broker({});
  }

  // (Re)starts the broker; its cache defaults to one directory under dir.
  void start_broker(BrokerOptions o) {
    broker.reset();
    if (o.cache_root.empty()) o.cache_root = dir.path() / "broker";
    broker = std::make_unique<Broker>(o);
    address = "127.0.0.1:" + std::to_string(broker->port());
  }

  BrokerConnection::BlobProvider provider() {
    return [this](const Digest& d) -> std::optional<fs::path> {
      if (d == layer) return layer_path;
      return std::nullopt;
    };
  }

  ResolvedJob job(std::string program, std::vector<std::string> args = {}) {
    ResolvedJob j;
    j.layers = {layer};
    j.program = std::move(program);
    j.arguments = std::move(args);
    return j;
  }

  // Waits until the broker reports n workers.
  void wait_workers(size_t n) {
    for (int i = 0; i < 2000; ++i) {
      auto s = nlohmann::json::parse(broker->status_json());
      if (s["workers"].size() == n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "broker never saw " << n << " workers";
  }
};

TEST_F(ClusterTest, JobRunsOnWorkerWithLayersRelayed) {
  InProcessWorker w(address, 2);
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo", {"hi", "there"}), p.on_state(), p.on_done());
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << std::get<JobError>(o.result).message;
  EXPECT_EQ(std::get<Exited>(o.result).code, 1);  // one layer tree handed to the runner
  EXPECT_EQ(o.effects.stdout_.first, "echo hi there\n");
  // Both the broker and the worker hold the blob now, verified.
  EXPECT_TRUE(w.store.has_blob(layer));
  std::lock_guard lk(p.mu);
  ASSERT_GE(p.states.size(), 3u);
  EXPECT_EQ(p.states.front(), "0");  // waiting for artifacts
  EXPECT_THAT(p.states, ::testing::Contains(::testing::StartsWith("2 worker ")));
  EXPECT_EQ(p.states.back(), "3");
}

TEST_F(ClusterTest, ManyJobsManyWorkersAllComplete) {
  InProcessWorker w1(address, 2), w2(address, 3);
  wait_workers(2);
  BrokerConnection conn(address, {}, provider());
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i)
    conn.submit(job("echo", {std::to_string(i)}), nullptr, [&](JobOutcome o) {
      if (std::holds_alternative<Exited>(o.result)) ok++;
    });
  conn.wait_idle();
  EXPECT_EQ(ok, 200);
  EXPECT_GT(w1.runner.started, 0);
  EXPECT_GT(w2.runner.started, 0);
  auto s = nlohmann::json::parse(broker->status_json());
  EXPECT_EQ(s["completed"], 200);
}

TEST_F(ClusterTest, DigestMismatchFailsThatJobAndBrokerKeepsServing) {
  InProcessWorker w(address, 1);
  fs::path liar = dir.path() / "liar.tar";
  std::ofstream(liar) << make_tar("x", "not what the digest says");
  Digest claimed = Digest::of_bytes("something else");
  BrokerConnection conn(address, {}, [&](const Digest& d) -> std::optional<fs::path> {
    if (d == claimed) return liar;
    if (d == layer) return layer_path;
    return std::nullopt;
  });
  ResolvedJob bad = job("echo");
  bad.layers = {claimed};
  Probe p;
  conn.submit(bad, p.on_state(), p.on_done());
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("does not match its digest"));
  Probe good;
  conn.submit(job("echo", {"still"}), nullptr, good.on_done());
  EXPECT_EQ(good.get().effects.stdout_.first, "echo still\n");
  // Another client is served too, and the liar's blob was never stored.
  BrokerConnection other(address, {}, provider());
  Probe theirs;
  other.submit(job("echo", {"other"}), nullptr, theirs.on_done());
  EXPECT_EQ(theirs.get().effects.stdout_.first, "echo other\n");
  EXPECT_FALSE(fs::exists(dir.path() / "broker" / "blobs" / claimed.hex()));
  EXPECT_FALSE(w.store.has_blob(claimed));
}

TEST_F(ClusterTest, BrokerCacheSurvivesRestart) {
  {
    InProcessWorker w(address, 1);
    BrokerConnection conn(address, {}, provider());
    Probe p;
    conn.submit(job("echo", {"first"}), nullptr, p.on_done());
    ASSERT_TRUE(std::holds_alternative<Exited>(p.get().result));
  }
  start_broker({});  // the same cache root
  std::atomic<int> asked{0};
  InProcessWorker w(address, 1);
  BrokerConnection conn(address, {}, [&](const Digest&) -> std::optional<fs::path> {
    asked++;
    return std::nullopt;  // were it asked, the job would fail
  });
  Probe p;
  conn.submit(job("echo", {"again"}), nullptr, p.on_done());
  EXPECT_EQ(p.get().effects.stdout_.first, "echo again\n");
  EXPECT_EQ(asked, 0);
}

// Serves a hand-written broker service on 127.0.0.1 at a free port (set in port).
std::unique_ptr<grpc::Server> serve_on_loopback(grpc::Service& service, int& port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  return builder.BuildAndStart();
}

// A broker that gives its worker one job whose layer it serves with the wrong bytes.
struct LyingBroker final : pb::Broker::Service {
  Digest claimed = Digest::of_bytes("the real layer");
  std::promise<pb::JobDone> done;
  std::atomic<int> downloads{0};
  grpc::Status WorkerSession(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<pb::BrokerToWorker, pb::WorkerToBroker>* stream) override {
    pb::WorkerToBroker m;
    if (!stream->Read(&m)) return grpc::Status::OK;
    pb::BrokerToWorker welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_id(1);
    stream->Write(welcome);
    ResolvedJob j;
    j.layers = {claimed};
    j.program = "echo";
    pb::BrokerToWorker enqueue;
    enqueue.mutable_enqueue()->set_job_id(7);
    to_proto(j, enqueue.mutable_enqueue()->mutable_job());
    stream->Write(enqueue);
    bool reported = false;
    while (stream->Read(&m))
      if (m.has_done() && !reported) {
        reported = true;
        done.set_value(m.done());
      }
    return grpc::Status::OK;
  }
  grpc::Status DownloadBlob(grpc::ServerContext*, const pb::BlobRequest*,
                            grpc::ServerWriter<pb::BlobChunk>* writer) override {
    downloads++;
    pb::BlobChunk c;
    c.set_data("not the real layer");
    writer->Write(c);
    return grpc::Status::OK;
  }
};

TEST_F(ClusterTest, WorkerVerifiesTheBlobsItFetches) {
  LyingBroker service;
  int port = 0;
  auto server = serve_on_loopback(service, port);
  ASSERT_TRUE(server && port);
  auto w = std::make_unique<InProcessWorker>("127.0.0.1:" + std::to_string(port), 1);
  auto done = service.done.get_future();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  pb::JobDone d = done.get();
  EXPECT_EQ(d.job_id(), 7u);
  ASSERT_TRUE(d.outcome().has_error());
  EXPECT_EQ(d.outcome().error().kind(), pb::JobError::SYSTEM);
  EXPECT_THAT(d.outcome().error().message(), HasSubstr("do not match the digest"));
  EXPECT_EQ(service.downloads, 1);
  EXPECT_FALSE(w->store.has_blob(service.claimed));
  EXPECT_EQ(w->runner.started, 0);
  w.reset();
  server->Shutdown();
}

TEST_F(ClusterTest, SmallBrokerCacheKeepsEveryLayerQueuedJobsNeed) {
  // A cache that holds about three of the thirty layers: without pins, each
  // upload would evict the layers of the jobs queued before it.
  // The client's uploads may hold more than the cache while its jobs need them.
  BrokerOptions o{
      .cache_root = dir.path() / "small", .cache_size = 3 * 2048, .client_cache_limit = 30 * 2048};
  start_broker(o);
  Layers layers(dir.path(), "layer", 30);
  BrokerConnection conn(address, {}, layers.provider());
  Tally tally;
  for (int i = 0; i < 60; ++i) {  // two jobs per layer
    ResolvedJob j = job("echo", {std::to_string(i)});
    j.layers = {layers.digests[i % 30]};
    conn.submit(j, nullptr, tally.on_done());
  }
  // Every layer uploaded and every job queued before any worker exists.
  nlohmann::json s;
  for (int i = 0; i < 2000; ++i) {
    s = nlohmann::json::parse(broker->status_json());
    if (s["queued"] == 60) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(s["queued"], 60) << s;
  EXPECT_EQ(s["pinned_blobs"], 30);
  InProcessWorker w(address, 2);
  conn.wait_idle();
  EXPECT_EQ(tally.ok, 60) << tally.first_error();
  s = nlohmann::json::parse(broker->status_json());
  EXPECT_EQ(s["pinned_blobs"], 0);
  // Unpinned, the cache shrinks back under its bound.
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(o.cache_root / "blobs")) bytes += e.file_size();
  EXPECT_LE(bytes, o.cache_size);
}

TEST_F(ClusterTest, SmallWorkerCacheKeepsTheLayersOfItsWaitingJobs) {
  // Two slots busy with gated jobs, two more jobs fetched ahead and waiting,
  // each job with its own layer, in a worker cache that holds two layers (blob
  // and extracted tree): without pins, fetching the fourth would evict the third.
  Layers layers(dir.path(), "worker layer", 4);
  const auto& order = layers.digests;
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::atomic<int> started{0};
  TempDir wd;
  ArtifactStore store(wd.path() / "a", 2 * (2048 + 3 * 4096));
  Worker worker(WorkerOptions{.broker = address, .name = "small", .slots = 2}, store,
                [&](const ContainerConfig& c, const CancelToken*) {
                  started++;
                  if (c.program == "gate") open.wait();
                  return JobOutcome{Exited{0}, {}};
                });
  std::thread t([&] { worker.run(); });
  wait_workers(1);
  BrokerConnection conn(address, {}, layers.provider());
  Tally tally;
  for (int i = 0; i < 4; ++i) {
    ResolvedJob j = job(i < 2 ? "gate" : "echo");
    j.layers = {order[i]};
    conn.submit(j, nullptr, tally.on_done());
    // In order, so that the gated jobs take the slots.
    for (int k = 0; k < 2000 && i < 2 && started < i + 1; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int k = 0; k < 2000 && !(store.has_blob(order[2]) && store.has_blob(order[3])); ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(store.has_blob(order[2]));
  EXPECT_TRUE(store.has_blob(order[3]));
  gate.set_value();
  conn.wait_idle();
  EXPECT_EQ(tally.ok, 4) << tally.first_error();
  EXPECT_EQ(started, 4);
  worker.stop();
  t.join();
}

TEST_F(ClusterTest, MissingBlobOnClientFailsJob) {
  BrokerConnection conn(address, {}, [](const Digest&) { return std::nullopt; });
  Probe p;
  conn.submit(job("echo"), nullptr, p.on_done());
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("could not upload layer"));
}

TEST_F(ClusterTest, MalformedJobIsRejectedWithClearError) {
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job(""), nullptr, p.on_done());
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("malformed job: the program is empty"));
}

TEST_F(ClusterTest, LocalOnlyJobIsRefusedWhenNoWorkerAllowsIt) {
  InProcessWorker w(address, 1);
  wait_workers(1);
  BrokerConnection conn(address, {}, provider());
  ResolvedJob j = job("echo");
  j.network = Network::Local;
  Probe p;
  conn.submit(j, nullptr, p.on_done());
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("no worker runs this job"));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("allow-local-network is off"));
  EXPECT_EQ(w.runner.started, 0);
}

TEST_F(ClusterTest, UnreachableBrokerIsAClearError) {
  // A port nobody listens on: bind one and close it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  try {
    BrokerConnection conn(addr, {}, provider());
    FAIL() << "connected to nothing";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot connect to broker at " + addr));
  }
}

TEST_F(ClusterTest, ProtocolVersionMismatchIsRefusedOnBothSides) {
  try {
    BrokerConnection conn(address, {}, provider(), {.protocol_version = 99});
    FAIL() << "broker accepted version 99";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("protocol version mismatch"));
  }
  InProcessWorker w(address, 1, {}, 99);
  w.join();
  ASSERT_TRUE(w.error);
  try {
    std::rethrow_exception(w.error);
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("protocol version mismatch"));
  }
  try {
    admin_status(address, {}, 99);
    FAIL() << "broker answered an admin of version 99";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("broker at " + address + ": protocol version mismatch"));
    EXPECT_THAT(e.what(), HasSubstr("this admin tool speaks version 99"));
  }
  EXPECT_THROW(admin_stop(address, {}, 99), UserError);
  // The broker still serves others (and did not stop).
  InProcessWorker good(address, 1);
  BrokerConnection ok(address, {}, provider());
  Probe p;
  ok.submit(job("echo", {"served"}), nullptr, p.on_done());
  EXPECT_EQ(p.get().effects.stdout_.first, "echo served\n");
  EXPECT_FALSE(ok.error());
}

TEST_F(ClusterTest, RoleTokensAreRequiredWhenConfigured) {
  start_broker(
      {.auth = BrokerAuth{.worker_token = "w-sesame", .client_token = "sesame", .admin_token = "a-sesame"}});
  try {
    BrokerConnection conn(address, {}, provider());
    FAIL() << "accepted a client without token";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("token"));
  }
  try {
    BrokerConnection conn(address, TlsOptions{.token = "wrong"}, provider());
    FAIL() << "accepted a wrong token";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("wrong token"));
  }
  EXPECT_THROW(admin_stop(address, {}), UserError);
  EXPECT_THROW(admin_stop(address, TlsOptions{.token = "sesame"}), UserError);  // a client's token
  try {
    BrokerConnection conn(address, TlsOptions{.token = "w-sesame"}, provider());
    FAIL() << "accepted a worker's token for a client";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not the client role"));
  }
  InProcessWorker w(address, 1, TlsOptions{.token = "w-sesame"});
  BrokerConnection conn(address, TlsOptions{.token = "sesame"}, provider());
  Probe p;
  conn.submit(job("echo", {"in"}), nullptr, p.on_done());
  EXPECT_EQ(p.get().effects.stdout_.first, "echo in\n");
  EXPECT_NO_THROW(admin_status(address, TlsOptions{.token = "a-sesame"}));
}

TEST_F(ClusterTest, ClientDisconnectCancelsItsRunningJobs) {
  InProcessWorker w(address, 2);
  {
    BrokerConnection conn(address, {}, provider());
    conn.submit(job("block"), nullptr, nullptr);
    conn.submit(job("block"), nullptr, nullptr);
    conn.submit(job("block"), nullptr, nullptr);  // queued at the worker
    for (int i = 0; i < 2000 && w.runner.started < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(w.runner.started, 2);
  }
  // Every job that started is killed. The queued one is normally dropped
  // before it starts, but the worker may start it in the slot a killed job
  // freed before its own cancel arrives; then it is killed too.
  for (int i = 0; i < 2000 && (w.runner.cancelled < 2 || w.runner.cancelled < w.runner.started); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(w.runner.cancelled, 2);
  EXPECT_EQ(w.runner.cancelled, w.runner.started);
  for (int i = 0; i < 200; ++i) {
    auto s = nlohmann::json::parse(broker->status_json());
    if (s["running"] == 0 && s["assigned"] == 0 && s["queued"] == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << broker->status_json();
}

TEST_F(ClusterTest, VanishedWorkersJobsRunElsewhere) {
  auto w1 = std::make_unique<InProcessWorker>(address, 1);
  wait_workers(1);
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("block"), p.on_state(), p.on_done());
  for (int i = 0; i < 2000 && w1->runner.started < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(w1->runner.started, 1);
  // A second worker whose runner never blocks, then the first one vanishes.
  TempDir d2;
  ArtifactStore s2(d2.path() / "a", 1 << 30);
  std::atomic<int> ran{0};
  Worker w2(WorkerOptions{.broker = address, .name = "w2", .slots = 1}, s2,
            [&](const ContainerConfig&, const CancelToken*) {
              ran++;
              return JobOutcome{Exited{0}, {}};
            });
  std::thread t2([&] { w2.run(); });
  wait_workers(2);
  w1.reset();
  JobOutcome o = p.get();
  EXPECT_TRUE(std::holds_alternative<Exited>(o.result));
  EXPECT_EQ(ran, 1);
  w2.stop();
  t2.join();
}

TEST_F(ClusterTest, BrokerGoingAwayFailsOutstandingJobsQuickly) {
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo"), nullptr, p.on_done());  // no worker: stays queued
  broker.reset();
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("broker at " + address + " stopped;"));
  EXPECT_EQ(conn.error(), std::get<JobError>(o.result).message);
  Probe late;
  conn.submit(job("echo"), nullptr, late.on_done());
  EXPECT_TRUE(std::holds_alternative<JobError>(late.get().result));
}

TEST_F(ClusterTest, StoppingBrokerTellsClientsWhyInsteadOfCancellingTheirJobs) {
  InProcessWorker w(address, 1);
  wait_workers(1);
  BrokerConnection conn(address, {}, provider());
  Probe running, assigned, queued;
  conn.submit(job("block"), nullptr, running.on_done());
  conn.submit(job("block"), nullptr, assigned.on_done());  // on the worker, waiting for its slot
  conn.submit(job("block"), nullptr, queued.on_done());    // at the broker
  for (int i = 0; i < 2000 && w.runner.started < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(w.runner.started, 1);
  broker->stop("maintenance");
  broker->wait();
  for (Probe* p : {&running, &assigned, &queued}) {
    JobOutcome o = p->get();
    ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
    EXPECT_EQ(std::get<JobError>(o.result).kind, JobErrorKind::System);
    EXPECT_THAT(std::get<JobError>(o.result).message,
                HasSubstr("broker at " + address + " stopped (maintenance)"));
    EXPECT_EQ(conn.error(), std::get<JobError>(o.result).message);
  }
  w.join();  // told to exit, the worker killed what it ran
  EXPECT_FALSE(w.error);
  EXPECT_EQ(w.runner.cancelled, w.runner.started);
}

TEST_F(ClusterTest, AdminStopEndsBrokerAndWorkers) {
  InProcessWorker w(address, 1);
  wait_workers(1);
  auto status = nlohmann::json::parse(admin_status(address, {}));
  EXPECT_EQ(status["workers"].size(), 1u);
  EXPECT_EQ(status["slots"], 1);
  admin_stop(address, {});
  broker->wait();  // returns because of the stop request
  w.join();        // the worker exits on the broker's Shutdown
  EXPECT_FALSE(w.error);
}

// GET a path from the status web server.
std::string http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) return "";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, n);
  ::close(fd);
  return resp;
}

TEST_F(ClusterTest, WebServerServesPageAndStatus) {
  InProcessWorker w(address, 3);
  wait_workers(1);
  std::string page = http_get(*broker->http_port(), "/");
  EXPECT_THAT(page, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(page, HasSubstr("id=\"worker-count\""));
  std::string api = http_get(*broker->http_port(), "/api/status");
  auto body = nlohmann::json::parse(api.substr(api.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["workers"].size(), 1u);
  EXPECT_EQ(body["slots"], 3);
  EXPECT_THAT(http_get(*broker->http_port(), "/nope"), HasSubstr("404"));
}

TEST_F(ClusterTest, SilentWorkerIsDroppedAndItsJobRunsElsewhere) {
  // Connected but mute: no heartbeat, no answer. Only the heartbeat timeout
  // can tell that it is gone.
  start_broker({.heartbeat_timeout = std::chrono::milliseconds(1000)});
  RawWorker silent(address, 1);
  wait_workers(1);
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo", {"rescued"}), p.on_state(), p.on_done());
  ASSERT_TRUE(silent.wait_enqueued(1));
  TempDir d2;
  ArtifactStore s2(d2.path() / "a", 1 << 30);
  FakeRunner r2;
  Worker w2(
      WorkerOptions{
          .broker = address, .name = "w2", .slots = 1, .heartbeat_interval = std::chrono::milliseconds(50)},
      s2, [&](const ContainerConfig& c, const CancelToken* t) { return r2(c, t); });
  std::thread t2([&] { w2.run(); });
  JobOutcome o = p.get();
  EXPECT_EQ(o.effects.stdout_.first, "echo rescued\n");
  EXPECT_TRUE(silent.wait_closed());  // the broker hung up on it
  auto s = nlohmann::json::parse(broker->status_json());
  ASSERT_EQ(s["workers"].size(), 1u);
  EXPECT_EQ(s["workers"][0]["name"], "w2");
  w2.stop();
  t2.join();
}

TEST_F(ClusterTest, JobLostOnTooManyWorkersEndsWithClearError) {
  start_broker({.max_job_losses = 1});
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo"), p.on_state(), p.on_done());
  for (int i = 0; i < 2; ++i) {  // two workers vanish holding it
    RawWorker w(address, 1);
    ASSERT_TRUE(w.wait_enqueued(1));
    w.hang_up();
  }
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_EQ(std::get<JobError>(o.result).kind, JobErrorKind::System);
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("job lost: 2 workers disconnected"));
}

// A broker that refuses every worker session with a retryable error.
struct RefusingBroker final : pb::Broker::Service {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::chrono::steady_clock::time_point> attempts;
  grpc::Status WorkerSession(grpc::ServerContext*,
                             grpc::ServerReaderWriter<pb::BrokerToWorker, pb::WorkerToBroker>*) override {
    std::lock_guard lk(mu);
    attempts.push_back(std::chrono::steady_clock::now());
    cv.notify_all();
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not now");
  }
};

TEST_F(ClusterTest, WorkerRetriesWithGrowingBackoff) {
  RefusingBroker service;
  int port = 0;
  auto server = serve_on_loopback(service, port);
  ASSERT_TRUE(server && port);
  TempDir d;
  ArtifactStore store(d.path() / "a", 1 << 30);
  FakeRunner runner;
  Worker w(WorkerOptions{.broker = "127.0.0.1:" + std::to_string(port),
                         .name = "w",
                         .slots = 1,
                         .initial_backoff = std::chrono::milliseconds(50),
                         .max_backoff = std::chrono::milliseconds(200)},
           store, [&](const ContainerConfig& c, const CancelToken* t) { return runner(c, t); });
  std::exception_ptr error;
  std::thread t([&] {
    try {
      w.run();
    } catch (...) {
      error = std::current_exception();
    }
  });
  {
    std::unique_lock lk(service.mu);
    ASSERT_TRUE(
        service.cv.wait_for(lk, std::chrono::seconds(60), [&] { return service.attempts.size() >= 6; }));
  }
  w.stop();
  t.join();
  server->Shutdown();
  EXPECT_FALSE(error);  // a retryable refusal never ends the worker
  // Each pause at least doubles, up to the cap (lower bounds only: a loaded
  // machine may make them longer, never shorter).
  const int expected_ms[] = {50, 100, 200, 200, 200};
  for (int i = 0; i < 5; ++i)
    EXPECT_GE(service.attempts[i + 1] - service.attempts[i], std::chrono::milliseconds(expected_ms[i]))
        << "pause " << i;
}

// A client speaking the protocol by hand, to send what a real client never would.
struct RawClient {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Broker::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::ClientToBroker, pb::BrokerToClient>> stream;
  uint64_t id = 0;
  bool finished = false;

  explicit RawClient(const std::string& address)
      : channel(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub(pb::Broker::NewStub(channel)),
        stream(stub->ClientSession(&ctx)) {
    pb::ClientToBroker hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_name("raw");
    stream->Write(hello);
    pb::BrokerToClient welcome;
    if (stream->Read(&welcome)) id = welcome.welcome().id();
  }
  ~RawClient() {
    if (finished) return;
    ctx.TryCancel();
    finish();
  }
  // Reads until the broker ends the session; its status.
  grpc::Status finish() {
    pb::BrokerToClient m;
    while (stream->Read(&m)) {
    }
    finished = true;
    return stream->Finish();
  }
  void submit(uint64_t job_id, const ResolvedJob& j) {
    pb::ClientToBroker m;
    m.mutable_submit()->set_job_id(job_id);
    to_proto(j, m.mutable_submit()->mutable_job());
    stream->Write(m);
  }
  // Reads until n artifact requests arrived.
  std::map<Digest, std::string> tickets;
  size_t read_requests(size_t n) {
    size_t got = 0;
    pb::BrokerToClient m;
    while (got < n && stream->Read(&m))
      if (m.has_artifact_request()) {
        got++;
        tickets[digest_from_bytes(m.artifact_request().digest())] = m.artifact_request().ticket();
      }
    return got;
  }
};

// Starts an upload of `bytes` as `d` and sends its first `first` bytes.
struct Upload {
  grpc::ClientContext ctx;
  pb::UploadResult result;
  std::unique_ptr<grpc::ClientWriter<pb::BlobChunk>> writer;
  Upload(pb::Broker::Stub& stub, uint64_t client, const Digest& d, const std::string& bytes, size_t first,
         const std::string& ticket = "")
      : writer(stub.UploadBlob(&ctx, &result)) {
    pb::BlobChunk c;
    c.set_protocol_version(kProtocolVersion);
    c.set_client_id(client);
    c.set_ticket(ticket);
    c.set_digest(digest_bytes(d));
    c.set_size(bytes.size());
    c.set_data(bytes.substr(0, first));
    writer->Write(c);
  }
  grpc::Status finish(const std::string& rest = "") {
    if (!rest.empty()) {
      pb::BlobChunk c;
      c.set_data(rest);
      writer->Write(c);
    }
    writer->WritesDone();
    return writer->Finish();
  }
};

// With the broker's upload limits at one: a first upload held open, then a
// second one of the same client refused saying `why`; once the first is done
// the second goes through and the job is queued.
void second_upload_waits_for_the_first(ClusterTest& t, const std::string& why) {
  std::string a = make_tar("a", "first layer\n"), b = make_tar("b", "second layer\n");
  Digest da = Digest::of_bytes(a), db = Digest::of_bytes(b);
  RawClient client(t.address);
  ResolvedJob j = t.job("echo");
  j.layers = {da, db};
  client.submit(1, j);
  ASSERT_EQ(client.read_requests(2), 2u);
  Upload first(*client.stub, client.id, da, a, 100, client.tickets[da]);  // holds the only upload slot
  // A second upload is refused while the first one is open. (Until the broker
  // has read the first one's opening chunk, it may still be let in: then it
  // ends early, incomplete, and we try again.)
  grpc::Status st;
  for (int i = 0; i < 500; ++i) {
    st = Upload(*client.stub, client.id, db, b, 100, client.tickets[db]).finish();
    if (st.error_code() != grpc::StatusCode::CANCELLED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr(why));
  EXPECT_TRUE(first.finish(a.substr(100)).ok());
  // The slot is free again.
  EXPECT_TRUE(Upload(*client.stub, client.id, db, b, b.size(), client.tickets[db]).finish().ok());
  for (int i = 0; i < 2000; ++i) {
    if (nlohmann::json::parse(t.broker->status_json())["queued"] == 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << t.broker->status_json();
}

TEST_F(ClusterTest, ConcurrentUploadsAreBounded) {
  start_broker({.max_concurrent_uploads = 1});
  second_upload_waits_for_the_first(*this, "too many uploads at once; retry");
}

TEST_F(ClusterTest, UploadsPerClientAreBounded) {
  start_broker({.max_uploads_per_client = 1});
  second_upload_waits_for_the_first(*this, "too many uploads at once from this client");
}

TEST_F(ClusterTest, OversizedMessageIsRefusedAndBrokerKeepsServing) {
  {
    RawClient raw(address);  // a default channel sends messages of any size
    ResolvedJob big = job("echo", {std::string(kMaxMessageBytes + 1024, 'x')});
    raw.submit(1, big);
    EXPECT_EQ(raw.finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  InProcessWorker w(address, 1);
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo", {"small"}), nullptr, p.on_done());
  EXPECT_EQ(p.get().effects.stdout_.first, "echo small\n");
}

TEST_F(ClusterTest, UndecodableJobIsRejectedAndBrokerKeepsServing) {
  InProcessWorker w(address, 1);
  {
    RawClient raw(address);
    pb::ClientToBroker m;
    m.mutable_submit()->set_job_id(1);
    m.mutable_submit()->mutable_job()->add_layers("short");  // not a 32-byte digest
    m.mutable_submit()->mutable_job()->set_program("echo");
    raw.stream->Write(m);
    pb::BrokerToClient reply;
    bool rejected = false;
    while (!rejected && raw.stream->Read(&reply))
      if (reply.has_done()) {
        EXPECT_EQ(reply.done().job_id(), 1u);
        ASSERT_TRUE(reply.done().outcome().has_error());
        EXPECT_THAT(reply.done().outcome().error().message(), HasSubstr("digest"));
        rejected = true;
      }
    EXPECT_TRUE(rejected);
  }
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo", {"fine"}), nullptr, p.on_done());
  EXPECT_EQ(p.get().effects.stdout_.first, "echo fine\n");
}

TEST_F(ClusterTest, UnsolicitedUploadIsRefusedAndNotStored) {
  std::string blob = make_tar("u", "nobody asked for this\n");
  Digest d = Digest::of_bytes(blob);
  RawClient client(address);
  // Without a ticket, or with a ticket of the broker's for this client and digest while the
  // broker no longer wants it.
  grpc::Status st = Upload(*client.stub, client.id, d, blob, blob.size()).finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("ticket"));
  EXPECT_FALSE(fs::exists(dir.path() / "broker" / "blobs" / d.hex()));
}

TEST_F(ClusterTest, UploadInAnotherClientsNameIsRefusedAndTheirJobRuns) {
  InProcessWorker w(address, 1);
  RawClient victim(address), attacker(address);
  victim.submit(1, job("echo", {"mine"}));
  ASSERT_EQ(victim.read_requests(1), 1u);
  std::string garbage = make_tar("g", "not the layer\n");
  ResolvedJob own = job("echo");
  own.layers = {Digest::of_bytes(garbage)};
  attacker.submit(1, own);
  ASSERT_EQ(attacker.read_requests(1), 1u);
  // The victim's id and the layer's digest are easy to guess; the ticket is not, and the
  // attacker's own ticket is for its own session and layer.
  for (const std::string& ticket : {std::string(), std::string(32, 'x'), attacker.tickets[own.layers[0]]}) {
    grpc::Status st = Upload(*attacker.stub, victim.id, layer, garbage, garbage.size(), ticket).finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  }
  grpc::Status st =
      Upload(*attacker.stub, attacker.id, layer, garbage, garbage.size(), attacker.tickets[own.layers[0]])
          .finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  std::ifstream in(layer_path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(
      Upload(*victim.stub, victim.id, layer, bytes, bytes.size(), victim.tickets[layer]).finish().ok());
  pb::BrokerToClient m;
  while (victim.stream->Read(&m) && !m.has_done()) {
  }
  ASSERT_TRUE(m.has_done());
  EXPECT_EQ(m.done().outcome().stdout().first(), "echo mine\n");
}

TEST_F(ClusterTest, UploadOverTheLimitsIsRefusedAtItsFirstChunk) {
  start_broker({.cache_size = 1 << 20, .max_upload_size = 64 << 10});
  std::string big(100 << 10, 'b');
  Digest d = Digest::of_bytes(big);
  RawClient client(address);
  ResolvedJob j = job("echo");
  j.layers = {d};
  client.submit(1, j);
  ASSERT_EQ(client.read_requests(1), 1u);
  // Declared over max-upload-size: refused before any data is taken, and the job fails saying why.
  Upload up(*client.stub, client.id, d, big, 1, client.tickets[d]);
  grpc::Status st = up.finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("max-upload-size"));
  pb::BrokerToClient m;
  while (client.stream->Read(&m) && !m.has_done()) {
  }
  ASSERT_TRUE(m.has_done());
  EXPECT_THAT(m.done().outcome().error().message(), HasSubstr("more than the broker takes from a client"));
  EXPECT_FALSE(fs::exists(dir.path() / "broker" / "blobs" / d.hex()));
}

TEST_F(ClusterTest, QueuedJobsFailWhenNoWorkerComesInTime) {
  start_broker({.no_worker_timeout = std::chrono::milliseconds(600)});
  BrokerConnection conn(address, {}, provider());
  Probe p;
  conn.submit(job("echo"), nullptr, p.on_done());
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("no worker has been connected to the broker"));
  EXPECT_THAT(std::get<JobError>(o.result).message, HasSubstr("no-worker-timeout"));
}

}  // namespace
}  // namespace mael::cluster
