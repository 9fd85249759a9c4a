// The client in cluster mode, against an in-process broker and a worker whose
// container runner is fake (cluster/test_worker.h: it echoes the command
// line, or blocks until cancelled for "block"). Jobs that must run locally go
// through the real container runtime instead.
#include "client/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.h"
#include "cluster/broker.h"
#include "cluster/test_worker.h"
#include "container/runtime.h"
#include "container/test_rootfs.h"
#include "store/artifact_store.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using cluster::InProcessWorker;

// One job's states and outcome.
struct Probe {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<JobState> states;
  std::optional<JobOutcome> outcome;
  Client::StateCallback on_state() {
    return [this](JobState s) {
      std::lock_guard lk(mu);
      states.push_back(s);
      cv.notify_all();
    };
  }
  Client::DoneCallback on_done() {
    return [this](JobOutcome o) {
      std::lock_guard lk(mu);
      outcome = std::move(o);
      cv.notify_all();
    };
  }
  void wait_running() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] {
      return outcome || std::find(states.begin(), states.end(), JobState::Running) != states.end();
    });
  }
  JobOutcome get() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return outcome.has_value(); });
    return *outcome;
  }
};

std::string describe(const JobOutcome& o) {
  if (auto* e = std::get_if<JobError>(&o.result)) return "error: " + e->message;
  if (auto* x = std::get_if<Exited>(&o.result)) return "exited " + std::to_string(x->code);
  return "other";
}

struct RemoteClientTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<cluster::Broker> broker;
  std::string address;

  void SetUp() override {
    cluster::BrokerOptions o;
    o.cache_root = dir.path() / "broker";
    broker = std::make_unique<cluster::Broker>(o);
    address = "127.0.0.1:" + std::to_string(broker->port());
    fs::create_directories(dir.path() / "project");
    testing::write_file(dir.path() / "project" / "data.txt", "layer bytes\n");
  }

  ClientOptions options() {
    ClientOptions o;
    o.project_dir = dir.path() / "project";
    o.cache_root = dir.path() / "client";
    o.slots = 2;
    o.broker = address;
    o.image_progress = false;
    return o;
  }

  static JobSpec job(std::string program, std::vector<std::string> args) {
    JobSpec s;
    s.container.layers.push_back(PathsLayer{{"data.txt"}, {}});
    s.program = std::move(program);
    s.arguments = std::move(args);
    return s;
  }

  void wait_workers(size_t n) {
    for (int i = 0; i < 3000; ++i) {
      if (nlohmann::json::parse(broker->status_json())["workers"].size() == n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "broker never saw " << n << " workers";
  }
};

TEST_F(RemoteClientTest, JobsRunOnTheClusterWithTheirStates) {
  InProcessWorker w(address);
  Client client(options());
  EXPECT_TRUE(client.remote());
  Probe p;
  JobId id = client.run_job(job("echo", {"a", "b"}), p.on_state(), p.on_done());
  EXPECT_NE(id & (JobId{1} << 63), 0u);
  JobOutcome o = p.get();
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_EQ(o.effects.stdout_.first, "echo a b\n");  // the fake runner answered: it ran remotely
  EXPECT_EQ(w.runner.started, 1);
  // The layer the client built was uploaded through the broker to the worker.
  ResolvedJob resolved = client.resolve(job("echo", {}));
  ASSERT_EQ(resolved.layers.size(), 1u);
  EXPECT_TRUE(w.store.has_blob(resolved.layers[0]));
  std::lock_guard lk(p.mu);
  ASSERT_FALSE(p.states.empty());
  EXPECT_EQ(p.states.front(), JobState::WaitingForArtifacts);
  EXPECT_THAT(p.states, ::testing::Contains(JobState::Running));
  EXPECT_EQ(p.states.back(), JobState::Completed);
}

TEST_F(RemoteClientTest, ManyJobsAndWaitIdle) {
  InProcessWorker w(address);
  Client client(options());
  std::atomic<int> ok{0};
  for (int i = 0; i < 30; ++i)
    client.run_job(job("echo", {std::to_string(i)}), nullptr, [&](JobOutcome o) {
      if (std::holds_alternative<Exited>(o.result)) ok++;
    });
  client.wait_idle();
  EXPECT_EQ(ok, 30);
  EXPECT_EQ(w.runner.started, 30);
}

TEST_F(RemoteClientTest, BindMountAndLocalNetworkJobsStayLocal) {
  InProcessWorker w(address);
  Client client(options());
  testing::write_file(dir.path() / "project" / "shared.txt", "from the host\n");
  auto local_job = [](std::vector<std::string> args) {
    JobSpec s;
    s.container.layers.push_back(PathsLayer{{testing::kBusybox}, {}});
    s.container.layers.push_back(StubsLayer{{"/mnt/"}});
    s.program = "/bin/busybox";
    s.arguments = std::move(args);
    return s;
  };
  JobSpec bind = local_job({"cat", "/mnt/shared.txt"});
  bind.container.mounts.push_back(Mount{.type = MountType::Bind, .mount_point = "/mnt", .local_path = "."});
  JobSpec net = local_job({"echo", "local network"});
  net.container.network = Network::Local;
  Probe p1, p2;
  JobId id = client.run_job(bind, p1.on_state(), p1.on_done());
  EXPECT_EQ(id & (JobId{1} << 63), 0u);
  client.run_job(net, p2.on_state(), p2.on_done());
  JobOutcome o1 = p1.get(), o2 = p2.get();
  EXPECT_EQ(o1.effects.stdout_.first, "from the host\n") << describe(o1);
  EXPECT_EQ(o2.effects.stdout_.first, "local network\n") << describe(o2);
  EXPECT_EQ(w.runner.started, 0);
}

TEST_F(RemoteClientTest, CancelAllEndsClusterJobs) {
  InProcessWorker w(address);
  Client client(options());
  Probe p1, p2;
  client.run_job(job("block", {}), p1.on_state(), p1.on_done());
  client.run_job(job("block", {}), p2.on_state(), p2.on_done());
  p1.wait_running();
  p2.wait_running();
  client.cancel_all();
  client.wait_idle();
  EXPECT_FALSE(std::holds_alternative<Exited>(p1.get().result));
  EXPECT_FALSE(std::holds_alternative<Exited>(p2.get().result));
  EXPECT_EQ(w.runner.cancelled, 2);
}

TEST_F(RemoteClientTest, BrokerGoingAwayEndsOutstandingJobs) {
  auto w = std::make_unique<InProcessWorker>(address);
  Client client(options());
  Probe p;
  client.run_job(job("block", {}), p.on_state(), p.on_done());
  p.wait_running();
  EXPECT_FALSE(client.broker_error());
  broker->stop("SIGTERM");
  broker.reset();
  JobOutcome o = p.get();
  // The stopping broker said why; the job's error and the client's agree, naming it.
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result)) << describe(o);
  EXPECT_THAT(describe(o), HasSubstr("broker at " + address + " stopped (SIGTERM)"));
  EXPECT_EQ(client.broker_error(), std::get<JobError>(o.result).message);
  client.wait_idle();
  // Later jobs fail at once with the same reason.
  Probe later;
  client.run_job(job("echo", {}), later.on_state(), later.on_done());
  EXPECT_THAT(describe(later.get()), HasSubstr("broker at " + address));
  w.reset();
}

TEST_F(RemoteClientTest, UnreachableBrokerIsAUserError) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);  // bound then closed: nothing listens there
  ClientOptions o = options();
  o.broker = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  try {
    Client client(o);
    FAIL() << "connected to nothing";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot connect to broker at " + *o.broker));
    EXPECT_THAT(e.what(), HasSubstr("check --broker"));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST_F(RemoteClientTest, WrongTokenIsAUserErrorNamingTheFix) {
  broker.reset();
  cluster::BrokerOptions bo;
  bo.cache_root = dir.path() / "broker2";
  bo.auth = {.worker_token = "w-sesame", .client_token = "sesame", .admin_token = "a-sesame"};
  broker = std::make_unique<cluster::Broker>(bo);
  address = "127.0.0.1:" + std::to_string(broker->port());
  ClientOptions o = options();
  o.token = "guess";
  try {
    Client client(o);
    FAIL() << "accepted a wrong token";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("broker at " + address));
    EXPECT_THAT(e.what(), HasSubstr("--token-file"));
  }
  o.token = "sesame";
  Client client(o);
  EXPECT_TRUE(client.remote());
}

}  // namespace
}  // namespace mael
