#pragma once
// The shared middle of every test runner: one containerized job per test case, scheduled from
// the test listing (new and last-failed first, then longest first), results reported through a
// RunUi as they finish, --repeat and --stop-after, and at the end the summary, the exit code
// and the JUnit cases. Adapters discover tests (cargo, go, pytest) and feed them in with
// add_cases() while discovery is still going on; jobs start at once.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runner/report_junit.h"
#include "runner/report_result.h"
#include "runner/report_summary.h"
#include "runner/result_cache.h"
#include "runner/run_ui.h"
#include "runner/test_listing.h"
#include "runner/waiting_note.h"
#include "spec/spec.h"

namespace mael {

struct TestCase {
  std::string package;  // listing keys
  std::string artifact;
  std::string case_name;
  std::string name;      // as shown: "pkg artifact case"
  JobSpec spec;          // priority and estimated_duration are set by TestRun
  bool ignored = false;  // reported IGNORED without running
  // Reported SLOW after running this long, and again after each further period; nullopt: never.
  std::optional<std::chrono::milliseconds> slow_timeout;
  // How many times a failed (or timed out) run is retried; passing on a retry is FLAKY.
  size_t retries = 0;
  // False: never CACHED, always run (the directive's `cache = false`).
  bool cache = true;
};

struct RunLoopOptions {
  size_t repeat = 1;
  std::optional<size_t> stop_after;  // stop after this many failures
  bool flaky_fails = false;          // --flaky-result fail: a flaky test makes the exit code 1
  // Output hooks per case (cargo trims the harness's lines around the test's own output).
  std::function<OutcomeHooks(const TestCase&)> hooks;
  // Cancels one job by the id the submitter returned (for dropped holds); may be empty.
  std::function<void(uint64_t job)> cancel_job;
  // When no test has started `waiting_note_after` after the first was queued, the run says why
  // (runner/waiting_note.h) with these facts from the client, and again when the reason changes.
  std::function<WaitingFacts()> waiting_facts;
  std::chrono::milliseconds waiting_note_after{10000};
  // Cached results (runner/result_cache.h): a passing test's job key is recorded there, a test
  // that skipped itself is recorded with its reason, any other is forgotten; with
  // use_cached_results, a test whose resolved job is that of its last pass is not run but
  // reported CACHED, and one whose job is that of its last skip is reported IGNORED again with
  // the same reason. --repeat neither uses nor records them.
  ResultCache* results = nullptr;
  bool use_cached_results = true;
};

// Decides, once a job is resolved (its layers are digests) and before it is submitted, whether
// it runs; false: it does not (its result is cached).
using JobAdmit = std::function<bool(const ResolvedJob&)>;
// Submits jobs to something that runs them and returns the job's id, or nullopt when `admit`
// (which may be empty: admit all) kept the job from running; then no callback comes. The real
// one wraps Client::run_job_if. Tests use a fake.
using JobSubmitter = std::function<std::optional<uint64_t>(const JobSpec&, std::function<void(JobState)>,
                                                           std::function<void(JobOutcome)>, const JobAdmit&)>;
// (BackgroundClient in runner/client_jobs.h has the one that submits to a Client.)

// Runs one job that is not a test (an adapter's own: pip's install, pytest's collection) through
// `submit` and waits for its outcome.
JobOutcome run_job_and_wait(const JobSubmitter& submit, const JobSpec& spec);
// The same, with `admit` deciding once the job is resolved whether it runs: nullopt when not.
std::optional<JobOutcome> run_job_and_wait(const JobSubmitter& submit, const JobSpec& spec, const JobAdmit& admit);

struct RunResult {
  int exit_code = 0;
  TestSummary summary;
  std::vector<JUnitCase> junit;
  bool stopped_early = false;
};

class TestRun {
 public:
  // `cancel_all` stops every queued and running job (called once when --stop-after trips).
  TestRun(JobSubmitter submit, std::function<void()> cancel_all, TestListing& listing, RunUi& ui,
          RunLoopOptions options);
  ~TestRun();

  // Records an artifact's full case list in the listing (call before add_cases for it).
  void set_artifact_cases(const std::string& package, const std::string& artifact,
                          const std::vector<std::pair<std::string, CaseMetadata>>& cases);
  // Schedules the cases (each `repeat` times) in listing order: new and failed first, then
  // longest first. Throws nothing: a job that cannot be made (a layer path that does not exist,
  // an unset $env{X}, an image that cannot be fetched) is that test's ERR, with the reason.
  // Cases added under a hold run at once, but nothing about them is shown, counted or recorded
  // until confirm_hold(); drop_hold() cancels and forgets them. This is for tests started
  // before the build tool has said whether their binary is still current. A held job that
  // cannot be made drops its hold instead of stopping the run.
  using HoldId = size_t;
  HoldId new_hold();
  void add_cases(std::vector<TestCase> cases, std::optional<HoldId> hold = std::nullopt);
  // Reports the hold's results so far and its later ones as usual. False when the hold was
  // dropped (one of its jobs could not even be made): its cases need adding again.
  bool confirm_hold(HoldId hold);
  // Cancels the hold's jobs and forgets their results, now and later; a confirmed hold stays.
  void drop_hold(HoldId hold);
  // True once --stop-after tripped or the run was abandoned; adapters stop discovering then.
  bool stopped() const { return stopped_; }
  // Gives up (the build failed): nothing more is submitted or recorded, and the jobs still
  // queued or running are cancelled. Results recorded so far stay.
  void abandon();

  // Waits for every job and returns the results. `discovery_complete` false means discovery
  // failed or was cut short, so the not-run count is only an estimate.
  RunResult finish(bool discovery_complete);

 private:
  void on_done(uint64_t id, const std::shared_ptr<const TestCase>& tc, JobOutcome outcome);
  void report(uint64_t id, const std::shared_ptr<const TestCase>& tc, const JobOutcome& outcome);
  // What a job's state changes and its end do (shared by first runs and retries).
  std::function<void(JobState)> state_news(uint64_t id, std::shared_ptr<const TestCase> tc,
                                           std::optional<HoldId> hold);
  std::function<void(JobOutcome)> outcome_news(uint64_t id, std::shared_ptr<const TestCase> tc,
                                               std::optional<HoldId> hold);
  // Runs a failed test again as job `id` (the caller has counted it outstanding).
  void retry(uint64_t id, const std::shared_ptr<const TestCase>& tc);
  // The cached-results check for job `id` of `tc`, resolved as `job` (a JobAdmit); keeps the
  // job's key for recording its pass.
  bool check_cache(uint64_t id, const TestCase& tc, const ResolvedJob& job);
  // Job `id` was not run: its result is cached. Reports it (or keeps it with its hold).
  void cached(uint64_t id, const std::shared_ptr<const TestCase>& tc, std::optional<HoldId> hold);
  // What job `id`, not run, is reported as: CACHED, or IGNORED as its last run skipped.
  TestResult cached_outcome(uint64_t id, const TestCase& tc);
  // Records a finished test's pass (or skip) in the result cache, or forgets its entry when it
  // failed.
  void settle_result_cache(uint64_t id, const TestCase& tc, const TestResult& r);
  struct HeldJob;
  // News of a job of a hold (its state, its end): while the hold is held, `keep` stores it with
  // the job. True when the hold is confirmed, so the news is to be handled as usual.
  bool held_news(HoldId hold, uint64_t id, const std::function<void(HeldJob&)>& keep);
  // One job fewer to wait for (under mu_).
  void job_gone();
  void cancel_jobs(const std::vector<uint64_t>& jobs);
  // An ignored test is shown and counted once, as in Maelstrom, but the JUnit report, which
  // lists every run of every test, has it `junit_copies` (--repeat) times.
  void record(uint64_t id, const TestCase& tc, TestResult r, bool ran, size_t junit_copies = 1);
  void note_state(uint64_t id, std::optional<JobState> state);  // nullopt: the job is gone
  void waiting_note_loop();
  void slow_loop();

  JobSubmitter submit_;
  std::function<void()> cancel_all_;
  TestListing& listing_;
  RunUi& ui_;
  RunLoopOptions options_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  size_t outstanding_ = 0;
  uint64_t next_id_ = 1;
  size_t queued_ = 0;     // jobs and ignored results
  size_t completed_ = 0;  // results recorded
  size_t failures_ = 0;
  std::atomic<bool> stopped_ = false;
  int exit_code_ = 0;
  TestSummary summary_;
  std::vector<JUnitCase> junit_;

  enum class HoldState : uint8_t { Held, Confirmed, Dropped };
  struct HeldJob {
    std::shared_ptr<const TestCase> tc;
    bool ignored = false;
    std::optional<TestResult> cached;  // not run: its cached result
    std::optional<JobState> state;
    std::optional<JobOutcome> outcome;
  };
  struct Hold {
    HoldState state = HoldState::Held;
    std::map<uint64_t, HeldJob> jobs;  // by id, while held
    std::vector<uint64_t> submitted;   // the submitter's job ids, for cancelling
  };
  std::vector<Hold> holds_;  // by HoldId, under mu_

  // For the waiting note, under mu_: each job's last state (held ones too), and whether any has
  // started.
  std::map<uint64_t, JobState> states_;
  bool any_started_ = false;
  bool closing_ = false;
  std::condition_variable started_cv_;
  // Running jobs with a slow_timeout, for the SLOW reports: since when, and how many were made.
  struct Running {
    std::shared_ptr<const TestCase> tc;
    std::chrono::steady_clock::time_point since;
    size_t reported = 0;
  };
  std::map<uint64_t, Running> running_;
  // The cache keys of jobs that may record a pass, by job id.
  std::map<uint64_t, std::string> keys_;
  std::map<uint64_t, std::string> cached_skips_;  // jobs not run: their last run skipped, why (under mu_)
  // Failed attempts of jobs being retried, by job id.
  std::map<uint64_t, std::vector<TestResult>> failed_attempts_;
  std::condition_variable slow_cv_;
  std::thread waiting_note_;  // last two: they use the members above
  std::thread slow_;
};

}  // namespace mael
