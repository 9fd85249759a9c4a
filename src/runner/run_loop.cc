#include "runner/run_loop.h"

#include <algorithm>

#include "base/error.h"

namespace mael {

TestRun::TestRun(JobSubmitter submit, std::function<void()> cancel_all, TestListing& listing, RunUi& ui,
                 RunLoopOptions options)
    : submit_(std::move(submit)),
      cancel_all_(std::move(cancel_all)),
      listing_(listing),
      ui_(ui),
      options_(std::move(options)) {
  if (options_.repeat == 0) options_.repeat = 1;
}

TestRun::~TestRun() {
  // Never leave callbacks pointing at a dead object.
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return outstanding_ == 0; });
}

void TestRun::set_artifact_cases(const std::string& package, const std::string& artifact,
                                 const std::vector<std::pair<std::string, CaseMetadata>>& cases) {
  std::lock_guard lk(mu_);
  listing_.update_artifact_cases(package, artifact, cases);
}

void TestRun::add_cases(std::vector<TestCase> cases) {
  std::vector<ScheduleHint> hints;
  {
    std::lock_guard lk(mu_);
    for (const auto& c : cases) hints.push_back(listing_.schedule_hint(c.package, c.artifact, c.case_name));
  }
  for (size_t i : schedule_order(hints)) {
    if (stopped_) return;
    TestCase& tc = cases[i];
    if (tc.ignored) {
      uint64_t id;
      size_t queued;
      {
        std::lock_guard lk(mu_);
        id = next_id_++;
        queued = ++queued_;
      }
      ui_.expected_jobs(queued);
      record(id, tc, ignored_result(tc.name), false);
      continue;
    }
    tc.spec.priority = hints[i].priority;
    if (hints[i].estimated_duration)
      tc.spec.estimated_duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(*hints[i].estimated_duration);
    auto shared = std::make_shared<const TestCase>(std::move(tc));
    for (size_t r = 0; r < options_.repeat && !stopped_; ++r) {
      uint64_t id;
      size_t queued;
      {
        std::lock_guard lk(mu_);
        id = next_id_++;
        queued = ++queued_;
        ++outstanding_;
      }
      ui_.expected_jobs(queued);
      ui_.job_enqueued(id, shared->name);
      try {
        submit_(
            shared->spec, [this, id](JobState s) { ui_.job_state(id, s); },
            [this, id, shared](JobOutcome o) { on_done(id, *shared, std::move(o)); });
      } catch (const UserError& e) {
        {
          std::lock_guard lk(mu_);
          if (!setup_error_) setup_error_ = shared->name + ": " + e.what();
          --outstanding_;
          idle_cv_.notify_all();
        }
        abandon();
        return;
      }
    }
  }
}

void TestRun::on_done(uint64_t id, const TestCase& tc, JobOutcome outcome) {
  if (!stopped_) {
    OutcomeHooks hooks = options_.hooks ? options_.hooks(tc) : OutcomeHooks{};
    record(id, tc, test_result_from_outcome(tc.name, outcome, id, hooks), true);
  }
  std::lock_guard lk(mu_);
  --outstanding_;
  idle_cv_.notify_all();
}

void TestRun::record(uint64_t id, const TestCase& tc, TestResult r, bool ran) {
  bool trip = false;
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    ++completed_;
    if (ran && r.duration)
      listing_.update_case(tc.package, tc.artifact, tc.case_name, r.failed(), *r.duration);
    switch (r.status) {
      case TestStatus::Ok: ++summary_.succeeded; break;
      case TestStatus::Ignored: summary_.ignored.push_back(tc.name); break;
      default:
        summary_.failed.push_back(tc.name);
        if (exit_code_ == 0) exit_code_ = r.exit_code != 0 ? r.exit_code : 1;
        ++failures_;
        break;
    }
    junit_.push_back({tc.package + " " + tc.artifact, tc.package, tc.case_name, r});
    ui_.job_finished(id, r);
    if (options_.stop_after && failures_ >= *options_.stop_after) {
      stopped_ = true;
      trip = true;
    }
  }
  if (trip && cancel_all_) cancel_all_();
}

void TestRun::abandon() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (cancel_all_) cancel_all_();
}

RunResult TestRun::finish(bool discovery_complete) {
  {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return outstanding_ == 0; });
  }
  RunResult res;
  std::lock_guard lk(mu_);
  res.exit_code = exit_code_;
  res.summary = summary_;
  res.stopped_early = stopped_;
  res.setup_error = setup_error_;
  if (stopped_ || !discovery_complete) {
    size_t left = queued_ - completed_;
    NotRunEstimate e;
    if (discovery_complete) {
      e = {NotRunEstimate::Kind::Exactly, left};
    } else if (left > 0) {
      e = {NotRunEstimate::Kind::GreaterThan, left};
    } else {
      e = {NotRunEstimate::Kind::Unknown, 0};
    }
    res.summary.not_run = e;
  }
  res.junit = junit_;
  return res;
}

}  // namespace mael
