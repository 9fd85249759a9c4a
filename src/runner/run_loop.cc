#include "runner/run_loop.h"

#include <algorithm>
#include <future>

#include "base/error.h"
#include "base/format.h"

namespace mael {

JobOutcome run_job_and_wait(const JobSubmitter& submit, const JobSpec& spec) {
  return *run_job_and_wait(submit, spec, nullptr);
}

std::optional<JobOutcome> run_job_and_wait(const JobSubmitter& submit, const JobSpec& spec, const JobAdmit& admit) {
  std::promise<JobOutcome> done;
  std::future<JobOutcome> result = done.get_future();
  if (!submit(spec, [](JobState) {}, [&done](JobOutcome out) { done.set_value(std::move(out)); }, admit))
    return std::nullopt;
  return result.get();
}

TestRun::TestRun(JobSubmitter submit, std::function<void()> cancel_all, TestListing& listing, RunUi& ui,
                 RunLoopOptions options)
    : submit_(std::move(submit)),
      cancel_all_(std::move(cancel_all)),
      listing_(listing),
      ui_(ui),
      options_(std::move(options)) {
  if (options_.repeat == 0) options_.repeat = 1;
  if (options_.waiting_facts) waiting_note_ = std::thread([this] { waiting_note_loop(); });
  slow_ = std::thread([this] { slow_loop(); });
}

TestRun::~TestRun() {
  {
    std::lock_guard lk(mu_);
    closing_ = true;
  }
  started_cv_.notify_all();
  slow_cv_.notify_all();
  if (waiting_note_.joinable()) waiting_note_.join();
  if (slow_.joinable()) slow_.join();
  // Never leave callbacks pointing at a dead object.
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return outstanding_ == 0; });
}

void TestRun::note_state(uint64_t id, std::optional<JobState> state) {
  std::lock_guard lk(mu_);
  if (!state) {
    states_.erase(id);
    running_.erase(id);
    return;
  }
  states_[id] = *state;
  if (*state == JobState::Running || *state == JobState::Completed) {
    any_started_ = true;
    started_cv_.notify_all();
  }
}

void TestRun::waiting_note_loop() {
  std::optional<std::string> said;
  std::unique_lock lk(mu_);
  for (;;) {
    started_cv_.wait_for(lk, options_.waiting_note_after);
    if (closing_ || any_started_) return;
    if (outstanding_ == 0) continue;  // nothing queued yet
    size_t waiting = 0, pending = 0;
    for (const auto& [id, st] : states_) {
      if (st == JobState::WaitingForArtifacts) ++waiting;
      if (st == JobState::Pending) ++pending;
    }
    size_t submitting = outstanding_ - std::min(outstanding_, states_.size());
    lk.unlock();
    std::optional<std::string> why = waiting_reason(options_.waiting_facts(), submitting, waiting, pending);
    lk.lock();
    if (closing_ || any_started_) return;
    if (why && why != said) {
      said = why;
      ui_.message("no test has started yet: " + *why);
    }
  }
}

// nextest's SLOW: a line for each running test each time another slow_timeout has passed.
void TestRun::slow_loop() {
  std::unique_lock lk(mu_);
  while (!closing_) {
    slow_cv_.wait_for(lk, std::chrono::milliseconds(200));
    if (closing_) return;
    auto now = std::chrono::steady_clock::now();
    std::vector<std::string> lines;
    for (auto& [id, r] : running_) {
      auto due = *r.tc->slow_timeout * static_cast<int64_t>(r.reported + 1);
      if (now - r.since < due) continue;
      ++r.reported;
      lines.push_back(mael::format("SLOW [> {:.3f}s] {}", std::chrono::duration<double>(due).count(), r.tc->name));
    }
    if (stopped_ || lines.empty()) continue;
    lk.unlock();
    for (const auto& l : lines) ui_.message(l);
    lk.lock();
  }
}

void TestRun::set_artifact_cases(const std::string& package, const std::string& artifact,
                                 const std::vector<std::pair<std::string, CaseMetadata>>& cases) {
  std::lock_guard lk(mu_);
  listing_.update_artifact_cases(package, artifact, cases);
}

TestRun::HoldId TestRun::new_hold() {
  std::lock_guard lk(mu_);
  holds_.emplace_back();
  return holds_.size() - 1;
}

void TestRun::add_cases(std::vector<TestCase> cases, std::optional<HoldId> hold) {
  std::vector<ScheduleHint> hints;
  {
    std::lock_guard lk(mu_);
    for (const auto& c : cases) hints.push_back(listing_.schedule_hint(c.package, c.artifact, c.case_name));
  }
  // Under mu_: a job is shown and counted now, kept back with its hold, or skipped (the hold
  // was dropped meanwhile).
  enum class Admit : uint8_t { Now, HeldBack, Skip };
  auto admit = [&](uint64_t id, const std::shared_ptr<const TestCase>& tc, bool ignored) {
    if (!hold || holds_[*hold].state == HoldState::Confirmed) return Admit::Now;
    if (holds_[*hold].state == HoldState::Dropped) return Admit::Skip;
    holds_[*hold].jobs[id] = HeldJob{tc, ignored, {}, {}};
    return Admit::HeldBack;
  };
  for (size_t i : schedule_order(hints)) {
    if (stopped_) return;
    TestCase& tc = cases[i];
    if (tc.ignored) {
      auto shared = std::make_shared<const TestCase>(std::move(tc));
      uint64_t id;
      size_t queued;
      {
        std::lock_guard lk(mu_);
        id = next_id_++;
        Admit a = admit(id, shared, true);
        if (a == Admit::Skip) return;
        if (a == Admit::HeldBack) continue;
        queued = ++queued_;
      }
      ui_.expected_jobs(queued);
      record(id, *shared, ignored_result(shared->name), false, options_.repeat);
      continue;
    }
    tc.spec.priority = hints[i].priority;
    if (hints[i].estimated_duration)
      tc.spec.estimated_duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(*hints[i].estimated_duration);
    auto shared = std::make_shared<const TestCase>(std::move(tc));
    for (size_t r = 0; r < options_.repeat && !stopped_; ++r) {
      uint64_t id;
      size_t queued = 0;
      Admit a;
      {
        std::lock_guard lk(mu_);
        id = next_id_++;
        a = admit(id, shared, false);
        if (a == Admit::Skip) return;
        ++outstanding_;
        if (a == Admit::Now) queued = ++queued_;
      }
      if (a == Admit::Now) {
        ui_.expected_jobs(queued);
        ui_.job_enqueued(id, shared->name);
      }
      std::optional<uint64_t> job;
      JobAdmit admit_job;
      if (options_.results && shared->cache && options_.repeat == 1)
        admit_job = [this, id, shared](const ResolvedJob& j) { return check_cache(id, *shared, j); };
      try {
        job = submit_(shared->spec, state_news(id, shared, hold), outcome_news(id, shared, hold), admit_job);
      } catch (const UserError& e) {
        {
          std::lock_guard lk(mu_);
          job_gone();
        }
        if (hold) {
          // Its cases are added again once the build is done; the error shows then if it stays.
          drop_hold(*hold);
          return;
        }
        // As Maelstrom does: this test is an error with the reason, the others still run.
        record(id, *shared, error_result(shared->name, e.what()), false);
        continue;
      }
      if (!job) {
        cached(id, shared, hold);
        continue;
      }
      if (hold) {
        bool dropped;
        {
          std::lock_guard lk(mu_);
          holds_[*hold].submitted.push_back(*job);
          dropped = holds_[*hold].state == HoldState::Dropped;
        }
        if (dropped) {
          cancel_jobs({*job});  // dropped while it was being submitted
          return;
        }
      }
    }
  }
}

std::function<void(JobState)> TestRun::state_news(uint64_t id, std::shared_ptr<const TestCase> tc,
                                                  std::optional<HoldId> hold) {
  return [this, id, tc = std::move(tc), hold](JobState s) {
    note_state(id, s);
    if (s == JobState::Running && tc->slow_timeout && !hold) {
      std::lock_guard lk(mu_);
      if (states_.count(id)) running_[id] = {tc, std::chrono::steady_clock::now(), 0};
    }
    if (!hold || held_news(*hold, id, [&](HeldJob& j) { j.state = s; })) ui_.job_state(id, s);
  };
}

std::function<void(JobOutcome)> TestRun::outcome_news(uint64_t id, std::shared_ptr<const TestCase> tc,
                                                      std::optional<HoldId> hold) {
  return [this, id, tc = std::move(tc), hold](JobOutcome o) {
    note_state(id, JobState::Completed);
    note_state(id, std::nullopt);
    if (!hold || held_news(*hold, id, [&](HeldJob& j) { j.outcome = std::move(o); })) {
      on_done(id, tc, std::move(o));
      return;
    }
    std::lock_guard lk(mu_);
    job_gone();
  };
}

bool TestRun::check_cache(uint64_t id, const TestCase& tc, const ResolvedJob& job) {
  std::optional<std::string> key = result_cache_key(job);
  if (!key) return true;  // it must run on this machine: never cached
  if (options_.use_cached_results)
    if (auto before = options_.results->lookup(tc.package, tc.artifact, tc.case_name, *key)) {
      if (before->skipped) {
        std::lock_guard lk(mu_);
        cached_skips_[id] = before->reason;
      }
      return false;
    }
  std::lock_guard lk(mu_);
  keys_[id] = std::move(*key);
  return true;
}

TestResult TestRun::cached_outcome(uint64_t id, const TestCase& tc) {
  std::lock_guard lk(mu_);
  auto it = cached_skips_.find(id);
  if (it == cached_skips_.end()) return cached_result(tc.name);
  TestResult r = cached_skip_result(tc.name, it->second);
  cached_skips_.erase(it);
  return r;
}

void TestRun::cached(uint64_t id, const std::shared_ptr<const TestCase>& tc, std::optional<HoldId> hold) {
  note_state(id, std::nullopt);
  TestResult r = cached_outcome(id, *tc);
  if (!hold || held_news(*hold, id, [&r](HeldJob& j) { j.cached = r; })) record(id, *tc, std::move(r), false);
  std::lock_guard lk(mu_);
  job_gone();
}

void TestRun::settle_result_cache(uint64_t id, const TestCase& tc, const TestResult& r) {
  if (!options_.results) return;
  std::optional<std::string> key;
  {
    std::lock_guard lk(mu_);
    if (auto it = keys_.find(id); it != keys_.end()) {
      key = std::move(it->second);
      keys_.erase(it);
    }
  }
  // A test that failed on an attempt runs next time: a pass on a retry is FLAKY, and a skip on a
  // retry hides the failure before it.
  if (r.failed() || r.status == TestStatus::Flaky || !r.earlier.empty()) {
    options_.results->forget(tc.package, tc.artifact, tc.case_name);
  } else if (key && r.status == TestStatus::Ok) {
    options_.results->record_pass(tc.package, tc.artifact, tc.case_name, *key);
  } else if (key && r.status == TestStatus::Ignored) {  // it ran and skipped itself
    options_.results->record_skip(tc.package, tc.artifact, tc.case_name, *key, r.details.value_or(""));
  }
}

void TestRun::retry(uint64_t id, const std::shared_ptr<const TestCase>& tc) {
  try {
    // The first attempt's key stays: a retry that passes is FLAKY, which is not cached.
    submit_(tc->spec, state_news(id, tc, std::nullopt), outcome_news(id, tc, std::nullopt), nullptr);
  } catch (const UserError& e) {
    record(id, *tc, error_result(tc->name, e.what()), false);
    std::lock_guard lk(mu_);
    failed_attempts_.erase(id);
    job_gone();
  }
}

bool TestRun::held_news(HoldId hold, uint64_t id, const std::function<void(HeldJob&)>& keep) {
  std::lock_guard lk(mu_);
  Hold& h = holds_[hold];
  if (h.state == HoldState::Held)
    if (auto it = h.jobs.find(id); it != h.jobs.end()) keep(it->second);
  return h.state == HoldState::Confirmed;
}

bool TestRun::confirm_hold(HoldId hold) {
  std::map<uint64_t, HeldJob> jobs;
  {
    std::lock_guard lk(mu_);
    Hold& h = holds_[hold];
    if (h.state != HoldState::Held) return h.state == HoldState::Confirmed;
    h.state = HoldState::Confirmed;
    jobs.swap(h.jobs);
    // Shown as if just enqueued, under mu_ so that a job ending now is not reported first.
    for (const auto& [id, j] : jobs) {
      ui_.expected_jobs(++queued_);
      if (j.ignored) continue;
      ui_.job_enqueued(id, j.tc->name);
      if (j.state) ui_.job_state(id, *j.state);
    }
  }
  for (const auto& [id, j] : jobs) {
    if (j.ignored) {
      record(id, *j.tc, ignored_result(j.tc->name), false, options_.repeat);
    } else if (j.cached) {
      record(id, *j.tc, *j.cached, false);
    } else if (j.outcome) {
      report(id, j.tc, *j.outcome);
    }
  }
  return true;
}

void TestRun::drop_hold(HoldId hold) {
  std::vector<uint64_t> jobs;
  {
    std::lock_guard lk(mu_);
    Hold& h = holds_[hold];
    if (h.state != HoldState::Held) return;
    h.state = HoldState::Dropped;
    h.jobs.clear();
    jobs.swap(h.submitted);
  }
  cancel_jobs(jobs);  // without mu_: a cancelled job may end inside the call
}

void TestRun::cancel_jobs(const std::vector<uint64_t>& jobs) {
  if (options_.cancel_job)
    for (uint64_t job : jobs) options_.cancel_job(job);
}

void TestRun::on_done(uint64_t id, const std::shared_ptr<const TestCase>& tc, JobOutcome outcome) {
  report(id, tc, outcome);
  std::lock_guard lk(mu_);
  job_gone();
}

void TestRun::job_gone() {
  --outstanding_;
  idle_cv_.notify_all();
}

void TestRun::report(uint64_t id, const std::shared_ptr<const TestCase>& tc, const JobOutcome& outcome) {
  if (stopped_) return;
  OutcomeHooks hooks = options_.hooks ? options_.hooks(*tc) : OutcomeHooks{};
  TestResult r = test_result_from_outcome(tc->name, outcome, id, hooks);
  r.attempts = tc->retries + 1;
  std::vector<TestResult> earlier;
  bool again = false;
  {
    std::lock_guard lk(mu_);
    auto it = failed_attempts_.find(id);
    size_t failed_before = it == failed_attempts_.end() ? 0 : it->second.size();
    r.attempt = failed_before + 1;
    bool retryable = r.status == TestStatus::Failure || r.status == TestStatus::TimedOut;
    if (retryable && failed_before < tc->retries && !stopped_) {
      failed_attempts_[id].push_back(std::move(r));
      ++outstanding_;  // the retry; this attempt's job_gone() follows in on_done
      again = true;
    } else if (it != failed_attempts_.end()) {
      earlier = std::move(it->second);
      failed_attempts_.erase(it);
    }
  }
  if (again) {
    retry(id, tc);
    return;
  }
  if (!earlier.empty()) {
    if (r.status == TestStatus::Ok) r.status = TestStatus::Flaky;
    r.earlier = std::move(earlier);
  }
  settle_result_cache(id, *tc, r);
  record(id, *tc, std::move(r), true);
}

void TestRun::record(uint64_t id, const TestCase& tc, TestResult r, bool ran, size_t junit_copies) {
  bool trip = false;
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    ++completed_;
    if (ran && r.duration)
      listing_.update_case(tc.package, tc.artifact, tc.case_name, r.failed(), *r.duration);
    switch (r.status) {
      case TestStatus::Ok: ++summary_.succeeded; break;
      case TestStatus::Cached:
        ++summary_.succeeded;
        ++summary_.cached;
        break;
      case TestStatus::Ignored: summary_.ignored.push_back(tc.name); break;
      case TestStatus::Flaky:
        ++summary_.succeeded;
        summary_.flaky.push_back(mael::format("{} ({}/{})", tc.name, r.attempt, r.attempts));
        if (options_.flaky_fails && exit_code_ == 0) exit_code_ = 1;
        break;
      default:
        summary_.failed.push_back(tc.name);
        if (exit_code_ == 0) exit_code_ = r.exit_code != 0 ? r.exit_code : 1;
        ++failures_;
        break;
    }
    for (size_t i = 0; i < junit_copies; ++i)
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
