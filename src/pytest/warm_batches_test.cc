#include "pytest/warm_batches.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "base/error.h"
#include "pytest/warm_script.h"

namespace mael {
namespace {

std::string record(const std::string& json) { return std::string(kWarmRecordPrefix) + json + "\n"; }

TEST(WarmOutput, RecordsBecomeOutcomesInOrder) {
  std::string text = "pytest's header on stdout\n" +
                     record(R"({"item": "t.py::a", "ns": 5000, "exit": 1, "out": "aGk=", "err": "", "out_lost": 7})") +
                     record(R"({"item": "t.py::b", "ns": 1, "signal": 6, "out": "", "err": "ZXJy"})") +
                     record(R"({"item": "t.py::a", "ns": 1, "timeout": true, "out": "", "err": ""})") +
                     record(R"({"item": "t.py::gone", "missing": true})");
  WarmOutput w = parse_warm_output(text);
  ASSERT_EQ(w.outcomes.size(), 2u);
  ASSERT_EQ(w.outcomes["t.py::a"].size(), 2u);
  const JobOutcome& a = w.outcomes["t.py::a"][0];
  EXPECT_EQ(std::get<Exited>(a.result).code, 1);
  EXPECT_EQ(a.effects.stdout_.first, "hi");
  EXPECT_EQ(a.effects.stdout_.truncated, 7u);
  EXPECT_EQ(a.effects.duration, std::chrono::nanoseconds(5000));
  EXPECT_TRUE(std::holds_alternative<TimedOut>(w.outcomes["t.py::a"][1].result));
  EXPECT_EQ(std::get<Signaled>(w.outcomes["t.py::b"][0].result).signal, 6);
  EXPECT_EQ(w.outcomes["t.py::b"][0].effects.stderr_.first, "err");
  EXPECT_FALSE(w.isolation_problem);
}

TEST(WarmOutput, ACutRecordAndTheFailureNotesAreRead) {
  WarmOutput w = parse_warm_output(record(R"({"isolation": "unshare: EPERM"})") + record(R"({"collection": 2})") +
                                   std::string(kWarmRecordPrefix) + R"({"item": "t.py::a", "exit")");
  EXPECT_EQ(w.isolation_problem, "unshare: EPERM");
  EXPECT_EQ(w.collection_failed, 2);
  EXPECT_TRUE(w.outcomes.empty());
}

// A submitter that records jobs and answers them when told.
struct FakeClient {
  struct Job {
    JobSpec spec;
    std::function<void(JobState)> on_state;
    std::function<void(JobOutcome)> on_done;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Job> jobs;
  JobSubmitter submitter() {
    return [this](const JobSpec& s, std::function<void(JobState)> st, std::function<void(JobOutcome)> d,
                  const JobAdmit& admit) -> std::optional<uint64_t> {
      if (admit && !admit(ResolvedJob{})) return std::nullopt;
      std::lock_guard lk(mu);
      jobs.push_back({s, std::move(st), std::move(d)});
      cv.notify_all();
      return uint64_t{jobs.size()};
    };
  }
  Job job(size_t i) {  // a copy: the vector grows as jobs are submitted again
    std::lock_guard lk(mu);
    return jobs.at(i);
  }
  void wait_for(size_t n) {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return jobs.size() >= n; })) << jobs.size();
  }
};

JobSpec fresh_job(const std::string& item) {
  JobSpec s;
  s.program = "/usr/bin/python3";
  s.arguments = {"-m", "pytest", "--verbose", item};
  return s;
}

WarmPlan plan(size_t slots) {
  WarmPlan p;
  p.slots = slots;
  p.item_of = [](const JobSpec& s) -> std::optional<std::string> {
    if (s.arguments.back().find("fresh") != std::string::npos) return std::nullopt;
    return s.arguments.back();
  };
  p.batch_job = [](const JobSpec& first, const std::vector<std::string>& items) {
    JobSpec b = first;
    b.arguments = {"batch"};
    b.arguments.insert(b.arguments.end(), items.begin(), items.end());
    return b;
  };
  return p;
}

struct Results {
  std::mutex mu;
  std::map<std::string, JobOutcome> by_item;
  std::function<void(JobOutcome)> sink(const std::string& item) {
    return [this, item](JobOutcome o) {
      std::lock_guard lk(mu);
      by_item[item] = std::move(o);
    };
  }
};

TEST(WarmBatcher, ItemsOfOneContainerShareABatchAndEachGetsItsOwnOutcome) {
  FakeClient client;
  Results results;
  WarmBatcher b(client.submitter(), plan(1));
  for (const char* item : {"t.py::a", "t.py::b", "t.py::fresh"})
    b.submit(fresh_job(item), [](JobState) {}, results.sink(item), nullptr);
  client.wait_for(2);
  FakeClient::Job batch, fresh;
  {
    std::lock_guard lk(client.mu);
    ASSERT_EQ(client.jobs.size(), 2u);
    fresh = client.jobs[0].spec.arguments[0] == "batch" ? client.jobs[1] : client.jobs[0];
    batch = client.jobs[0].spec.arguments[0] == "batch" ? client.jobs[0] : client.jobs[1];
  }
  EXPECT_EQ(fresh.spec.arguments.back(), "t.py::fresh");  // not for a batch: passed on as it is
  EXPECT_EQ(batch.spec.arguments, (std::vector<std::string>{"batch", "t.py::a", "t.py::b"}));
  // The batch brings back a's result only: b runs again as its fresh job.
  JobOutcome o{Exited{0}, {}};
  o.effects.stdout_.first = record(R"({"item": "t.py::a", "ns": 1, "exit": 1, "out": "", "err": ""})");
  batch.on_done(o);
  client.wait_for(3);
  {
    std::lock_guard lk(results.mu);
    EXPECT_EQ(std::get<Exited>(results.by_item.at("t.py::a").result).code, 1);
    EXPECT_FALSE(results.by_item.count("t.py::b"));
  }
  std::lock_guard lk(client.mu);
  EXPECT_EQ(client.jobs[2].spec.arguments.back(), "t.py::b");
}

TEST(WarmBatcher, ABatchErrorIsEachMembersAndIsolationProblemsRunFresh) {
  FakeClient client;
  Results results;
  WarmBatcher b(client.submitter(), plan(1));
  b.submit(fresh_job("t.py::a"), [](JobState) {}, results.sink("a"), nullptr);
  b.submit(fresh_job("t.py::b"), [](JobState) {}, results.sink("b"), nullptr);
  client.wait_for(1);
  client.job(0).on_done(JobOutcome{JobError{JobErrorKind::System, "no such layer"}, {}});
  {
    std::lock_guard lk(results.mu);
    ASSERT_EQ(results.by_item.size(), 2u);
    EXPECT_EQ(std::get<JobError>(results.by_item.at("b").result).message, "no such layer");
  }
  b.submit(fresh_job("u.py::a"), [](JobState) {}, results.sink("ua"), nullptr);
  b.submit(fresh_job("u.py::b"), [](JobState) {}, results.sink("ub"), nullptr);
  client.wait_for(2);
  JobOutcome o{Exited{0}, {}};
  o.effects.stdout_.first = record(R"({"isolation": "unshare: Operation not permitted"})");
  client.job(1).on_done(o);
  client.wait_for(4);
  std::lock_guard lk(client.mu);
  EXPECT_EQ(client.jobs[2].spec.arguments.back(), "u.py::a");
  EXPECT_EQ(client.jobs[3].spec.arguments.back(), "u.py::b");
}

TEST(WarmBatcher, AnItemWhoseResultIsCachedNeitherRunsNorJoinsABatch) {
  FakeClient client;
  Results results;
  WarmBatcher b(client.submitter(), plan(1));
  int asked = 0;
  auto cached = [&](const ResolvedJob&) {
    ++asked;
    return false;
  };
  EXPECT_FALSE(b.submit(fresh_job("t.py::a"), [](JobState) {}, results.sink("a"), cached));
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(b.submit(fresh_job("t.py::b"), [](JobState) {}, results.sink("b"), [](const ResolvedJob&) { return true; }));
  EXPECT_TRUE(b.submit(fresh_job("t.py::c"), [](JobState) {}, results.sink("c"), nullptr));
  client.wait_for(1);
  std::lock_guard lk(client.mu);
  ASSERT_EQ(client.jobs.size(), 1u);
  EXPECT_EQ(client.jobs[0].spec.arguments, (std::vector<std::string>{"batch", "t.py::b", "t.py::c"}));
}

TEST(WarmBatcher, FullBatchesGoAtOnceAndTheRestIsSpreadOverTheSlots) {
  FakeClient client;
  Results results;
  WarmPlan p = plan(2);
  p.batch = 16;
  p.gather = std::chrono::milliseconds(200);
  WarmBatcher b(client.submitter(), p);
  for (int i = 0; i < 40; ++i) {
    std::string item = "t.py::t" + std::to_string(i);
    b.submit(fresh_job(item), [](JobState) {}, results.sink(item), nullptr);
  }
  // Two full batches of 16 without waiting for the group to go quiet...
  client.wait_for(2);
  {
    std::lock_guard lk(client.mu);
    ASSERT_EQ(client.jobs.size(), 2u);
    EXPECT_EQ(client.jobs[0].spec.arguments.size(), 17u);  // "batch" + 16 items
    EXPECT_EQ(client.jobs[1].spec.arguments.size(), 17u);
  }
  // ...then the 8 left, once it is, in two batches for the two slots.
  client.wait_for(4);
  std::lock_guard lk(client.mu);
  ASSERT_EQ(client.jobs.size(), 4u);
  EXPECT_EQ(client.jobs[2].spec.arguments.size(), 5u);
  EXPECT_EQ(client.jobs[3].spec.arguments.size(), 5u);
}

// Tests known to be long fill a batch before its count does: each batch holds about batch_time
// of them, and goes at once.
TEST(WarmBatcher, KnownLongTestsMakeSmallerBatches) {
  FakeClient client;
  Results results;
  WarmPlan p = plan(2);
  p.batch_time = std::chrono::milliseconds(5000);
  p.gather = std::chrono::seconds(60);  // the rest waits for more items (here: until the end)
  WarmBatcher b(client.submitter(), p);
  for (int i = 0; i < 7; ++i) {
    std::string item = "t.py::t" + std::to_string(i);
    JobSpec s = fresh_job(item);
    s.estimated_duration = std::chrono::milliseconds(2000);
    b.submit(s, [](JobState) {}, results.sink(item), nullptr);
  }
  client.wait_for(2);
  std::lock_guard lk(client.mu);
  ASSERT_EQ(client.jobs.size(), 2u);
  EXPECT_EQ(client.jobs[0].spec.arguments.size(), 4u);  // "batch" + 3 items of 2 s
  EXPECT_EQ(client.jobs[1].spec.arguments.size(), 4u);
}

}  // namespace
}  // namespace mael
