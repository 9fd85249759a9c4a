#include "executor/executor.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <latch>

#include "container/runtime.h"
#include "store/artifact_store.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mael-exec-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    store_ = std::make_unique<ArtifactStore>(dir_, 1 << 30);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  static ResolvedJob job(std::string name, int32_t prio, std::optional<int> est_ms) {
    ResolvedJob j;
    j.program = std::move(name);
    j.priority = prio;
    if (est_ms) j.estimated_duration = std::chrono::milliseconds(*est_ms);
    return j;
  }
  fs::path dir_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST(EffectiveLimits, AJobMayOnlyLowerTheConfiguredLimits) {
  ContainerLimits configured;
  configured.max_processes = 100;
  configured.max_memory = 0;  // none
  configured.max_tmpfs_size = 1000;
  ContainerLimits l = effective_limits(configured, JobLimits{50, 2000, 5000});
  EXPECT_EQ(l.max_processes, 50u);
  EXPECT_EQ(l.max_memory, 2000u);      // no configured limit: the job's own
  EXPECT_EQ(l.max_tmpfs_size, 1000u);  // more than configured: the configured one
  l = effective_limits(configured, JobLimits{});
  EXPECT_EQ(l.max_processes, 100u);
  EXPECT_EQ(l.max_memory, 0u);
}

TEST_F(ExecutorTest, OrdersByPriorityThenLongestEstimateFirst) {
  std::promise<void> gate;
  auto gate_f = gate.get_future().share();
  std::mutex mu;
  std::vector<std::string> order;
  ContainerRunner runner = [&](const ContainerConfig& c, const CancelToken*) {
    if (c.program == "blocker") gate_f.wait();
    std::lock_guard lk(mu);
    order.push_back(c.program);
    return JobOutcome{Exited{0}, {}};
  };
  LocalExecutor ex(*store_, runner, {.slots = 1});
  std::atomic<int> done = 0;
  auto on_done = [&](JobOutcome) { ++done; };
  ex.submit(job("blocker", 0, 1), nullptr, on_done);
  while (ex.running() == 0) std::this_thread::yield();
  ex.submit(job("short", 0, 10), nullptr, on_done);
  ex.submit(job("long", 0, 1000), nullptr, on_done);
  ex.submit(job("unknown", 0, std::nullopt), nullptr, on_done);
  ex.submit(job("urgent-short", 5, 1), nullptr, on_done);
  ex.submit(job("low", -1, std::nullopt), nullptr, on_done);
  ex.submit(job("short-2", 0, 10), nullptr, on_done);
  gate.set_value();
  ex.wait_idle();
  EXPECT_EQ(done, 7);
  EXPECT_EQ(order, (std::vector<std::string>{"blocker", "urgent-short", "unknown", "long", "short", "short-2", "low"}));
}

// Three slots: three jobs run at once (each holds its slot until released), never a fourth.
TEST_F(ExecutorTest, RunsUpToSlotsJobsAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  int now = 0, peak = 0;
  bool release = false;
  ContainerRunner runner = [&](const ContainerConfig&, const CancelToken*) {
    std::unique_lock lk(mu);
    peak = std::max(peak, ++now);
    cv.notify_all();
    cv.wait(lk, [&] { return release; });
    --now;
    return JobOutcome{Exited{0}, {}};
  };
  LocalExecutor ex(*store_, runner, {.slots = 3});
  for (int i = 0; i < 12; ++i) ex.submit(job("j", 0, std::nullopt), nullptr, nullptr);
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return now == 3; });  // all three slots busy at once
    EXPECT_EQ(ex.running(), 3u);
    release = true;
  }
  cv.notify_all();
  ex.wait_idle();
  EXPECT_EQ(peak, 3);
}

TEST_F(ExecutorTest, ReportsStatesAndPassesTheSpecThrough) {
  std::vector<JobState> states;
  std::mutex mu;
  ContainerConfig seen;
  ContainerRunner runner = [&](const ContainerConfig& c, const CancelToken*) {
    seen = c;
    return JobOutcome{Exited{3}, {}};
  };
  LocalExecutor ex(*store_, runner, {.slots = 1, .inline_limit = 77});
  ResolvedJob j = job("/bin/x", 0, std::nullopt);
  j.arguments = {"a", "b"};
  j.environment = {"A=1"};
  j.working_directory = "/w";
  j.user = 5;
  j.network = Network::Loopback;
  std::promise<JobOutcome> out;
  ex.submit(j, [&](JobState s) { std::lock_guard lk(mu); states.push_back(s); },
            [&](JobOutcome o) { out.set_value(std::move(o)); });
  JobOutcome o = out.get_future().get();
  ex.wait_idle();
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result));
  EXPECT_EQ(std::get<Exited>(o.result).code, 3);
  EXPECT_EQ(states, (std::vector<JobState>{JobState::Pending, JobState::Running, JobState::Completed}));
  EXPECT_EQ(seen.program, "/bin/x");
  EXPECT_EQ(seen.arguments, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seen.working_directory, "/w");
  EXPECT_EQ(seen.user, 5u);
  EXPECT_EQ(seen.network, Network::Loopback);
  EXPECT_EQ(seen.inline_limit, 77u);
}

TEST_F(ExecutorTest, CancelKillsRunningAndDropsQueued) {
  ContainerRunner runner = [&](const ContainerConfig&, const CancelToken* t) {
    pollfd p{t->fd(), POLLIN, 0};
    poll(&p, 1, 10000);  // a job that only ends when cancelled
    return JobOutcome{Signaled{9}, {}};
  };
  LocalExecutor ex(*store_, runner, {.slots = 1});
  std::promise<JobOutcome> a, b;
  JobId ia = ex.submit(job("a", 0, std::nullopt), nullptr, [&](JobOutcome o) { a.set_value(std::move(o)); });
  JobId ib = ex.submit(job("b", 0, std::nullopt), nullptr, [&](JobOutcome o) { b.set_value(std::move(o)); });
  while (ex.running() == 0) std::this_thread::yield();
  ex.cancel(ib);
  ex.cancel(ia);
  auto oa = a.get_future().get();
  auto ob = b.get_future().get();
  ASSERT_TRUE(std::holds_alternative<JobError>(oa.result));
  ASSERT_TRUE(std::holds_alternative<JobError>(ob.result));
  EXPECT_EQ(std::get<JobError>(ob.result).message, "job cancelled");
  ex.wait_idle();
}

TEST_F(ExecutorTest, MissingLayerIsASystemError) {
  ContainerRunner runner = [&](const ContainerConfig&, const CancelToken*) { return JobOutcome{Exited{0}, {}}; };
  LocalExecutor ex(*store_, runner, {.slots = 1});
  ResolvedJob j = job("x", 0, std::nullopt);
  j.layers.push_back(Digest::of_bytes("not in the store"));
  std::promise<JobOutcome> out;
  ex.submit(j, nullptr, [&](JobOutcome o) { out.set_value(std::move(o)); });
  auto o = out.get_future().get();
  ASSERT_TRUE(std::holds_alternative<JobError>(o.result));
  EXPECT_EQ(std::get<JobError>(o.result).kind, JobErrorKind::System);
}

}  // namespace
}  // namespace mael
