#include "runner/run_loop.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <thread>
#include <utility>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/subprocess.h"
#include "runner/report_junit.h"
#include "runner/run_loop_fakes.h"
#include "runner/runner_cli.h"
#include "runner/watch.h"

namespace mael {
namespace {

TestCase make_case(const std::string& name, const std::string& program) {
  TestCase tc;
  tc.package = "pkg";
  tc.artifact = "pkg(library)";
  tc.case_name = name;
  tc.name = "pkg " + name;
  tc.spec.program = program;
  return tc;
}

// Runs jobs inline: program "pass" exits 0, "fail" exits 3, "bad" cannot be submitted.
struct FakeJobs {
  std::vector<JobSpec> submitted;
  JobSubmitter submitter() {
    return [this](const JobSpec& s, std::function<void(JobState)> st, std::function<void(JobOutcome)> done,
                  const JobAdmit& admit) -> std::optional<uint64_t> {
      if (s.program == "bad") throw UserError("missing layer file");
      if (admit && !admit(fake_resolved(s))) return std::nullopt;
      submitted.push_back(s);
      st(JobState::Running);
      done(exited(s.program == "fail" ? 3 : 0));
      return submitted.size() - 1;
    };
  }
};

TEST(RunLoop, RunsCasesReportsAndUpdatesListing) {
  TestListing listing;
  RecordingUi ui;
  FakeJobs jobs;
  TestRun run(jobs.submitter(), nullptr, listing, ui, {});
  run.set_artifact_cases("pkg", "pkg(library)", {{"a", {}}, {"b", {}}, {"d", {}}});
  auto ignored = make_case("d", "pass");
  ignored.ignored = true;
  run.add_cases({make_case("a", "pass"), make_case("b", "fail"), ignored});
  RunResult r = run.finish(true);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.summary.succeeded, 1u);
  EXPECT_EQ(r.summary.failed, (std::vector<std::string>{"pkg b"}));
  EXPECT_EQ(r.summary.ignored, (std::vector<std::string>{"pkg d"}));
  EXPECT_FALSE(r.summary.not_run.has_value());
  EXPECT_EQ(r.junit.size(), 3u);
  ASSERT_EQ(jobs.submitted.size(), 2u);
  EXPECT_EQ(jobs.submitted[0].priority, 1);  // new tests come first
  auto b = listing.packages().at("pkg").at("pkg(library)").at("b").this_run;
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->outcome, CaseOutcome::Failure);
  EXPECT_FALSE(listing.packages().at("pkg").at("pkg(library)").at("d").this_run.has_value());
}

// A job that cannot be made (the spec names a missing layer file) is that test's ERR, with the
// reason, as in Maelstrom; the other tests still run, and the run fails as for a failed test.
TEST(RunLoop, AJobThatCannotBeMadeIsThatTestsError) {
  TestListing listing;
  RecordingUi ui;
  FakeJobs jobs;
  bool cancelled = false;
  TestRun run(jobs.submitter(), [&] { cancelled = true; }, listing, ui, {});
  run.add_cases({make_case("bad", "bad"), make_case("good", "pass")});
  EXPECT_FALSE(run.stopped());
  run.add_cases({make_case("later", "pass")});
  RunResult r = run.finish(true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(jobs.submitted.size(), 2u);
  EXPECT_EQ(r.summary.failed, (std::vector<std::string>{"pkg bad"}));
  EXPECT_EQ(r.summary.succeeded, 2u);
  EXPECT_EQ(ui.finished, (std::vector<std::string>{"pkg bad ERR", "pkg good OK", "pkg later OK"}));
  ASSERT_EQ(r.junit.size(), 3u);
  EXPECT_EQ(r.junit[0].result.details, "missing layer file");
}

TEST(RunLoop, SchedulesFailedThenLongestFirst) {
  TestListing listing = TestListing::parse(R"T(version = 3
[pkg."pkg(library)".short]
timings = [0.1]
outcome = "success"
[pkg."pkg(library)".long]
timings = [5.0]
outcome = "success"
[pkg."pkg(library)".failed]
timings = [0.2]
outcome = "failure"
)T",
                                           "listing");
  RecordingUi ui;
  FakeJobs jobs;
  TestRun run(jobs.submitter(), nullptr, listing, ui, {});
  run.add_cases({make_case("short", "pass"), make_case("long", "pass"), make_case("failed", "pass")});
  run.finish(true);
  ASSERT_EQ(jobs.submitted.size(), 3u);
  EXPECT_EQ(jobs.submitted[0].priority, 1);
  EXPECT_EQ(jobs.submitted[1].estimated_duration, std::chrono::milliseconds(5000));
  EXPECT_EQ(jobs.submitted[2].estimated_duration, std::chrono::milliseconds(100));
}

TEST(RunLoop, RepeatAndStopAfter) {
  TestListing listing;
  RecordingUi ui;
  FakeJobs jobs;
  int cancels = 0;
  RunLoopOptions o;
  o.repeat = 5;
  o.stop_after = 2;
  TestRun run(
      jobs.submitter(), [&] { ++cancels; }, listing, ui, o);
  run.add_cases({make_case("f", "fail"), make_case("g", "pass")});
  EXPECT_TRUE(run.stopped());
  RunResult r = run.finish(false);
  EXPECT_EQ(cancels, 1);
  EXPECT_EQ(r.summary.failed.size(), 2u);
  EXPECT_EQ(jobs.submitted.size(), 2u);  // nothing submitted after the stop
  ASSERT_TRUE(r.summary.not_run.has_value());
  EXPECT_TRUE(r.stopped_early);
}

TEST(RunLoop, RetriesMakeATestThatPassesLaterFlakyAndKeepEveryFailedAttempt) {
  TestListing listing;
  RecordingUi ui;
  // "flaky" fails twice, then passes; "fail" always fails; "bad" cannot be made (not retried).
  std::map<std::string, int> runs;
  std::vector<JobSpec> submitted;
  JobSubmitter submit = [&](const JobSpec& s, std::function<void(JobState)> st, std::function<void(JobOutcome)> done,
                            const JobAdmit&) -> std::optional<uint64_t> {
    if (s.program == "bad") throw UserError("missing layer file");
    submitted.push_back(s);
    int n = ++runs[s.program];
    st(JobState::Running);
    done(exited(s.program == "flaky" ? (n <= 2 ? 7 : 0) : s.program == "fail" ? 3 : 0));
    return submitted.size() - 1;
  };
  TestRun run(submit, nullptr, listing, ui, RunLoopOptions{});
  TestCase flaky = make_case("flaky", "flaky");
  flaky.retries = 3;
  TestCase fail = make_case("fail", "fail");
  fail.retries = 1;
  TestCase once = make_case("once", "fail");  // no retries: one run
  run.add_cases({flaky, fail, once});
  RunResult r = run.finish(true);
  EXPECT_EQ(runs["flaky"], 3);
  EXPECT_EQ(runs["fail"], 3);  // 2 for "fail" (1 retry), 1 for "once"
  EXPECT_EQ(r.summary.succeeded, 1u);
  EXPECT_EQ(r.summary.flaky, std::vector<std::string>{"pkg flaky (3/4)"});
  EXPECT_EQ(r.summary.failed.size(), 2u);
  EXPECT_EQ(r.exit_code, 3);
  ASSERT_EQ(r.junit.size(), 3u);
  for (const auto& c : r.junit) {
    if (c.name == "flaky") {
      EXPECT_EQ(c.result.status, TestStatus::Flaky);
      EXPECT_EQ(c.result.earlier.size(), 2u);
      EXPECT_EQ(c.result.earlier[1].attempt, 2u);
      EXPECT_EQ(c.result.earlier[1].reason, "exited with code 7");
    } else if (c.name == "fail") {
      EXPECT_EQ(c.result.status, TestStatus::Failure);
      EXPECT_EQ(c.result.attempt, 2u);
      EXPECT_EQ(c.result.earlier.size(), 1u);
    } else {
      EXPECT_TRUE(c.result.earlier.empty());
    }
  }
  // --flaky-result fail: a flaky test alone makes the run fail.
  TestListing listing2;
  RecordingUi ui2;
  runs.clear();
  RunLoopOptions o;
  o.flaky_fails = true;
  TestRun run2(submit, nullptr, listing2, ui2, o);
  run2.add_cases({flaky});
  RunResult r2 = run2.finish(true);
  EXPECT_EQ(r2.summary.flaky.size(), 1u);
  EXPECT_EQ(r2.exit_code, 1);
}

TEST(RunLoop, AbandonKeepsResultsSoFarAndSubmitsNothingMore) {
  TestListing listing;
  RecordingUi ui;
  FakeJobs jobs;
  int cancels = 0;
  TestRun run(jobs.submitter(), [&] { ++cancels; }, listing, ui, {});
  run.add_cases({make_case("a", "pass")});
  run.abandon();
  run.abandon();  // once is enough
  EXPECT_TRUE(run.stopped());
  run.add_cases({make_case("b", "pass")});
  RunResult r = run.finish(false);
  EXPECT_EQ(cancels, 1);
  EXPECT_EQ(jobs.submitted.size(), 1u);
  EXPECT_EQ(r.summary.succeeded, 1u);
  EXPECT_EQ(r.junit.size(), 1u);
}

TEST(RunLoop, RepeatRunsEachCaseNTimes) {
  TestListing listing;
  RecordingUi ui;
  FakeJobs jobs;
  RunLoopOptions o;
  o.repeat = 3;
  TestRun run(jobs.submitter(), nullptr, listing, ui, o);
  TestCase ignored = make_case("i", "pass");
  ignored.ignored = true;
  run.add_cases({make_case("a", "pass"), ignored});
  RunResult r = run.finish(true);
  EXPECT_EQ(r.summary.succeeded, 3u);
  // An ignored test is shown and counted once, as in Maelstrom.
  EXPECT_EQ(r.summary.ignored, std::vector<std::string>{"pkg i"});
  std::vector<std::string> shown = ui.finished;
  std::sort(shown.begin(), shown.end());
  EXPECT_EQ(shown, (std::vector<std::string>{"pkg a OK", "pkg a OK", "pkg a OK", "pkg i IGNORED"}));
  // The JUnit report lists every run of every test: the ignored one three times too.
  size_t a = 0, i = 0;
  for (const JUnitCase& c : r.junit) (c.name == "a" ? a : i) += 1;
  EXPECT_EQ(a, 3u);
  EXPECT_EQ(i, 3u);
}

TestCase make_named_case(const std::string& name, const std::string& program) {
  TestCase tc = make_case(name, program);
  tc.spec.arguments = {name};
  return tc;
}

// A run whose first test has not started says why, once per reason, and nothing once one has.
TEST(RunLoop, SaysWhyNoTestHasStarted) {
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  std::atomic<size_t> workers = 0;
  RunLoopOptions o;
  o.waiting_note_after = std::chrono::milliseconds(1);
  o.waiting_facts = [&] {
    WaitingFacts f;
    f.broker = "broker:9000";
    f.broker_workers = workers.load();
    return f;
  };
  TestRun run(jobs.submitter(), nullptr, listing, ui, o);
  run.add_cases({make_named_case("a", "pass")});
  jobs.jobs[0].state(JobState::Pending);
  auto wait_for_messages = [&](size_t n) {
    for (int i = 0; i < 1000 && ui.messages_now().size() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return ui.messages_now();
  };
  EXPECT_EQ(
      wait_for_messages(1),
      std::vector<std::string>{"no test has started yet: no worker connected to the broker at broker:9000"});
  workers = 1;
  EXPECT_EQ(
      wait_for_messages(2).back(),
      "no test has started yet: 1 jobs queued at the broker at broker:9000, none started yet: is a worker "
      "connected to it?");
  jobs.end("a", 0);
  EXPECT_EQ(run.finish(true).summary.succeeded, 1u);
}

TEST(RunLoop, ATestStillRunningAfterItsSlowTimeoutIsReportedSlowEachPeriod) {
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  TestRun run(jobs.submitter(), nullptr, listing, ui, RunLoopOptions{});
  TestCase slow = make_named_case("slow", "pass");
  slow.slow_timeout = std::chrono::milliseconds(50);
  TestCase quick = make_named_case("quick", "pass");  // no slow_timeout: never reported
  run.add_cases({slow, quick});
  for (auto& j : jobs.jobs) j.state(JobState::Running);
  auto wait_for_messages = [&](size_t n) {
    for (int i = 0; i < 1000 && ui.messages_now().size() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return ui.messages_now();
  };
  auto said = wait_for_messages(2);
  ASSERT_GE(said.size(), 2u);
  EXPECT_EQ(said[0], "SLOW [> 0.050s] pkg slow");
  EXPECT_EQ(said[1], "SLOW [> 0.100s] pkg slow");  // once per period, the total shown
  jobs.end("slow", 0);
  jobs.end("quick", 0);
  size_t after_end = ui.messages_now().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LE(ui.messages_now().size(), after_end + 1);  // a report racing the end at most
  for (const auto& m : ui.messages_now()) EXPECT_EQ(m.find("quick"), std::string::npos) << m;
  EXPECT_EQ(run.finish(true).summary.succeeded, 2u);
}

TEST(WaitingNote, ReasonsInOrderOfWhatHoldsTheRunUp) {
  WaitingFacts local;
  EXPECT_EQ(waiting_reason(local, 0, 0, 0), std::nullopt);
  EXPECT_EQ(waiting_reason(local, 2, 0, 0), "the first jobs' layers are still being built");
  WaitingFacts pulling{.images_downloading = {"docker://a", "docker://b"}};
  EXPECT_EQ(waiting_reason(pulling, 2, 0, 0), "image docker://a, docker://b still downloading");
  WaitingFacts remote{.broker = "h:1"};
  EXPECT_EQ(waiting_reason(remote, 0, 3, 1),
            "artifacts still uploading to the broker at h:1 (3 jobs wait for them)");
  remote.broker_workers = 0;
  EXPECT_EQ(waiting_reason(remote, 0, 3, 1), "no worker connected to the broker at h:1");
}

// Tests started before their binary is known to be current: nothing is shown or recorded until
// the hold is confirmed, then everything is, finished jobs at once and the rest as they end.
TEST(RunLoop, HeldResultsCountOnlyOnceConfirmed) {
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  TestRun run(jobs.submitter(), nullptr, listing, ui, {});
  run.set_artifact_cases("pkg", "pkg(library)", {{"a", {}}, {"b", {}}, {"c", {}}});
  auto ignored = make_named_case("c", "pass");
  ignored.ignored = true;
  TestRun::HoldId hold = run.new_hold();
  run.add_cases({make_named_case("a", "pass"), make_named_case("b", "fail"), ignored}, hold);
  ASSERT_EQ(jobs.jobs.size(), 2u);  // they run meanwhile
  jobs.end("a", 0);
  EXPECT_TRUE(ui.finished.empty());
  EXPECT_FALSE(listing.packages().at("pkg").at("pkg(library)").at("a").this_run.has_value());
  EXPECT_TRUE(run.confirm_hold(hold));
  EXPECT_EQ(ui.finished, (std::vector<std::string>{"pkg a OK", "pkg c IGNORED"}));
  EXPECT_TRUE(listing.packages().at("pkg").at("pkg(library)").at("a").this_run.has_value());
  jobs.end("b", 3);
  RunResult r = run.finish(true);
  EXPECT_EQ(ui.finished.back(), "pkg b FAIL");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.summary.succeeded, 1u);
  EXPECT_EQ(r.summary.failed, (std::vector<std::string>{"pkg b"}));
  EXPECT_EQ(r.summary.ignored, (std::vector<std::string>{"pkg c"}));
  EXPECT_EQ(r.junit.size(), 3u);
}

// A dropped hold (the binary was rebuilt) leaves no trace, whenever its jobs end; the cases
// added again afterwards are the ones reported.
TEST(RunLoop, ADroppedHoldLeavesNoTrace) {
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  RunLoopOptions o;
  o.cancel_job = jobs.canceller();
  TestRun run(jobs.submitter(), nullptr, listing, ui, o);
  run.set_artifact_cases("pkg", "pkg(library)", {{"a", {}}, {"b", {}}});
  TestRun::HoldId hold = run.new_hold();
  run.add_cases({make_named_case("a", "fail"), make_named_case("b", "fail")}, hold);
  jobs.end("a", 1);
  run.drop_hold(hold);  // cancels both; b, still running, ends now
  EXPECT_EQ(jobs.cancelled, (std::vector<uint64_t>{0, 1}));
  EXPECT_FALSE(run.confirm_hold(hold));
  run.add_cases({make_named_case("a", "pass"), make_named_case("b", "pass")});
  jobs.end("a", 0);
  jobs.end("b", 0);
  RunResult r = run.finish(true);
  EXPECT_EQ(ui.finished, (std::vector<std::string>{"pkg a OK", "pkg b OK"}));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.summary.succeeded, 2u);
  EXPECT_TRUE(r.summary.failed.empty());
  EXPECT_FALSE(r.summary.not_run.has_value());
  EXPECT_EQ(r.junit.size(), 2u);
  EXPECT_EQ(listing.packages().at("pkg").at("pkg(library)").at("a").this_run->outcome, CaseOutcome::Success);
}

// A held job that cannot be made drops its hold instead of stopping the run: the build may yet
// make what it lacks, and the cases are added again after it.
TEST(RunLoop, AHeldJobThatCannotBeMadeDropsItsHold) {
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  RunLoopOptions o;
  o.cancel_job = jobs.canceller();
  TestRun run(jobs.submitter(), nullptr, listing, ui, o);
  TestRun::HoldId hold = run.new_hold();
  run.add_cases({make_named_case("a", "pass"), make_named_case("z", "bad"), make_named_case("y", "pass")},
                hold);
  EXPECT_FALSE(run.stopped());
  EXPECT_EQ(jobs.jobs.size(), 1u);                        // nothing more was submitted
  EXPECT_EQ(jobs.cancelled, (std::vector<uint64_t>{0}));  // a, submitted before
  EXPECT_FALSE(run.confirm_hold(hold));
  RunResult r = run.finish(true);
  EXPECT_TRUE(ui.finished.empty());
  EXPECT_EQ(r.summary.succeeded, 0u);
}

// The hold is dropped (by another thread, when cargo starts compiling) while its cases are being
// submitted: the job being submitted is cancelled at once and no more are submitted.
TEST(RunLoop, AHoldDroppedDuringSubmissionStopsIt) {
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  RunLoopOptions o;
  o.cancel_job = jobs.canceller();
  TestRun* run_ptr = nullptr;
  TestRun::HoldId hold = 0;
  JobSubmitter inner = jobs.submitter();
  TestRun run(
      [&](const JobSpec& s, std::function<void(JobState)> st, std::function<void(JobOutcome)> done,
          const JobAdmit& admit) {
        std::optional<uint64_t> id = inner(s, std::move(st), std::move(done), admit);
        if (id == 1) run_ptr->drop_hold(hold);
        return id;
      },
      nullptr, listing, ui, o);
  run_ptr = &run;
  hold = run.new_hold();
  run.add_cases({make_named_case("a", "pass"), make_named_case("b", "pass"), make_named_case("c", "pass")},
                hold);
  EXPECT_EQ(jobs.jobs.size(), 2u);
  EXPECT_EQ(jobs.cancelled, (std::vector<uint64_t>{0, 1}));
  RunResult r = run.finish(true);
  EXPECT_TRUE(ui.finished.empty());
  EXPECT_EQ(r.summary.succeeded, 0u);
}

TEST(RunUi, LiveAreaShowsBarsRunningTestsAndBuildOutput) {
  LiveState s;
  s.expected = 10;
  s.completed = 4;
  s.running = 2;
  s.pending = 1;
  s.waiting = 1;
  s.failed = 1;
  s.running_tests = {{"pkg slow_test", std::chrono::seconds(3)}, {"pkg other", std::chrono::seconds(1)}};
  s.building = true;
  s.build_lines = {"   Compiling foo"};
  auto lines = render_live_area(s, 80, 1);
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[0], "running tests:");
  EXPECT_NE(lines[1].find("pkg slow_test"), std::string::npos);
  EXPECT_NE(lines[1].find("3.0s"), std::string::npos);
  EXPECT_EQ(lines[2], "  ... and 1 more");
  EXPECT_EQ(lines[3], "build output:");
  EXPECT_EQ(lines[5].substr(0, 10), "waiting   ");
  EXPECT_NE(lines[5].find(" 8/10"), std::string::npos);
  EXPECT_NE(lines[8].find(" 4/10 (1 failed)"), std::string::npos);
  for (const auto& l : lines) EXPECT_LE(text_width(l), 80u) << l;
}

TEST(RunUi, FancyNeedsATerminal) {
  EXPECT_EQ(effective_ui_kind(UiKind::Auto, true), UiKind::Fancy);
  EXPECT_EQ(effective_ui_kind(UiKind::Auto, false), UiKind::Simple);
  EXPECT_THROW(effective_ui_kind(UiKind::Fancy, false), UserError);
  EXPECT_EQ(ui_kind_from_name("quiet"), UiKind::Quiet);
  EXPECT_FALSE(ui_kind_from_name("loud").has_value());
}

// What a UI wrote to `f` once `want` is in it (live UIs draw from their own thread), or all of it
// after ten seconds.
std::string read_until(FILE* f, const std::string& want) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text.clear();
    char buf[4096];
    ssize_t n;
    for (off_t off = 0; (n = pread(fileno(f), buf, sizeof buf, off)) > 0; off += n) text.append(buf, n);
    if (text.find(want) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return text;
}

TestResult ok_result(const std::string& name) {
  return test_result_from_outcome(name, exited(0), 1);
}

// A build cut short mid-line: what the UI writes next, and the run's error once the UI is gone,
// start on lines of their own.
TEST(RunUi, SimpleEndsAnUnfinishedBuildLine) {
  UiSettings s{.kind = UiKind::Simple, .stdout_tty = false, .width = 80, .out = tmpfile(), .err = tmpfile()};
  auto ui = make_run_ui(s);
  ui->build_output("   Compiling x\n    Finished");
  ui->message("warning: something");
  ui->build_output("more");
  ui.reset();
  std::fflush(s.err);
  std::rewind(s.err);
  std::string text;
  for (int c; (c = std::fgetc(s.err)) != EOF;) text += static_cast<char>(c);
  EXPECT_EQ(text, "   Compiling x\n    Finished\nwarning: something\nmore\n");
  std::fclose(s.out);
  std::fclose(s.err);
}

// As Maelstrom's simple UI: on a terminal, the state bars under the per-test lines.
TEST(RunUi, SimpleOnATerminalShowsProgressBars) {
  UiSettings s{.kind = UiKind::Simple, .stdout_tty = true, .width = 80, .out = tmpfile(), .err = tmpfile()};
  auto ui = make_run_ui(s);
  ui->expected_jobs(2);
  ui->job_enqueued(1, "pkg a");
  ui->job_enqueued(2, "pkg b");
  ui->job_state(1, JobState::Running);
  std::string text = read_until(s.out, "completed ");
  EXPECT_NE(text.find("waiting   ["), std::string::npos) << text;
  EXPECT_NE(text.find("running   ["), std::string::npos) << text;
  EXPECT_EQ(text.find("running tests:"), std::string::npos) << text;  // that is the fancy UI's
  ui->job_finished(1, ok_result("pkg a"));
  ui->job_finished(2, ok_result("pkg b"));
  ui->finish({"SUMMARY"}, "");
  text = read_until(s.out, "SUMMARY");
  EXPECT_NE(text.find("\x1b[1mpkg a\x1b[0m....."), std::string::npos) << text;  // colored, as Maelstrom's
  EXPECT_TRUE(text.ends_with("SUMMARY\n")) << text;
  std::fclose(s.out);
  std::fclose(s.err);
}

// As Maelstrom's quiet UI: on a terminal, one progress bar, no per-test lines.
TEST(RunUi, QuietOnATerminalShowsOneProgressBar) {
  UiSettings s{.kind = UiKind::Quiet, .stdout_tty = true, .width = 80, .out = tmpfile(), .err = tmpfile()};
  auto ui = make_run_ui(s);
  ui->expected_jobs(2);
  ui->job_enqueued(1, "pkg a");
  ui->job_enqueued(2, "pkg b");
  ui->job_finished(1, ok_result("pkg a"));
  std::string text = read_until(s.out, " 1/2 tests");
  EXPECT_NE(text.find("] 1/2 tests"), std::string::npos) << text;
  ui->job_finished(2, ok_result("pkg b"));
  ui->finish({"SUMMARY"}, "");
  text = read_until(s.out, "SUMMARY");
  EXPECT_EQ(text.find("pkg a"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("SUMMARY\n")) << text;
  std::fclose(s.out);
  std::fclose(s.err);
}

TEST(RunUi, OneBarCountsCompletedAndFailed) {
  LiveState st;
  st.expected = 10;
  st.completed = 5;
  st.failed = 2;
  EXPECT_EQ(render_one_bar(st, 40), "[########--------] 5/10 tests (2 failed)");
  st.cached = 3;
  EXPECT_EQ(render_one_bar(st, 40), "[#####-----] 5/10 tests (2 failed, 3 cached)");
  st.failed = 0;
  EXPECT_EQ(render_live_area(st, 80).back().substr(0, 10), "completed ");
  EXPECT_TRUE(render_live_area(st, 80).back().ends_with(" 5/10 (3 cached)")) << render_live_area(st, 80).back();
}

TEST(RunnerCli, LoopIsRepeatUpToTheExtraArguments) {
  EXPECT_EQ(
      rewrite_runner_flag_aliases({"prog", "--loop", "3", "--loop=4", "-i", "--loop", "--", "--loop"}),
      (std::vector<std::string>{"prog", "--repeat", "3", "--repeat=4", "-i", "--repeat", "--", "--loop"}));
  EXPECT_EQ(rewrite_runner_flag_aliases({"--loop"}), (std::vector<std::string>{"--loop"}));  // argv[0]
}

TEST(Subprocess, CollectsOutputAndExitCodes) {
  ProcessResult r = run_process({"sh", "-c", "echo out; echo err >&2; exit 4"});
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 4);
  r = run_process({"sh", "-c", "kill -ABRT $$"});
  EXPECT_EQ(r.signal, SIGABRT);
  EXPECT_EQ(r.exit_code, 128 + SIGABRT);
  EXPECT_THROW(run_process({"/nonexistent/program"}), UserError);
}

TEST(Subprocess, RunsProgramsAtTheSameTime) {
  auto flag = std::filesystem::temp_directory_path() / ("mael-both-" + std::to_string(getpid()));
  // The first waits (up to 10 s) for a file the second creates: run one after the other, it would
  // give up with exit code 9.
  std::string wait = "i=0; while [ ! -e " + flag.string() +
                     " ]; do sleep 0.01; i=$((i+1)); [ $i -gt 1000 ] && exit 9; done; echo saw";
  auto rs = run_processes({{"sh", "-c", wait}, {"sh", "-c", "touch " + flag.string() + "; echo made >&2"}});
  std::filesystem::remove(flag);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].exit_code, 0);
  EXPECT_EQ(rs[0].out, "saw\n");
  EXPECT_EQ(rs[1].err, "made\n");
}

TEST(Watch, SeesChangesButNotIgnoredDirectories) {
  auto dir = std::filesystem::temp_directory_path() / ("mael-watch-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "src");
  std::filesystem::create_directories(dir / "target");
  {
    DirectoryWatcher w(dir, {dir / "target"});
    std::ofstream(dir / "target" / "junk") << "x";
    EXPECT_FALSE(w.wait_for_change(std::chrono::milliseconds(10), std::chrono::milliseconds(200)));
    std::ofstream(dir / "src" / "lib.rs") << "x";
    EXPECT_TRUE(w.wait_for_change(std::chrono::milliseconds(10), std::chrono::milliseconds(5000)));
  }
  std::filesystem::remove_all(dir);
}

// The run's own outputs in the project (a JUnit report written atomically) never wake it.
TEST(Watch, IgnoresAnIgnoredFileAndItsAtomicReplacement) {
  auto dir = std::filesystem::temp_directory_path() / ("mael-watch-file-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    DirectoryWatcher w(dir, {dir / "report.xml"});
    write_file_atomically(dir / "report.xml", "<testsuites/>");
    EXPECT_FALSE(w.wait_for_change(std::chrono::milliseconds(10), std::chrono::milliseconds(200)));
    write_file_atomically(dir / "report.xml.bak", "x");
    EXPECT_TRUE(w.wait_for_change(std::chrono::milliseconds(10), std::chrono::milliseconds(5000)));
  }
  std::filesystem::remove_all(dir);
}

// One run of `cases` with the result cache: the finished tests' "NAME STATUS" lines and the result.
struct CachedRun {
  std::vector<std::string> finished;
  RunResult result;
  size_t submitted = 0;
};
CachedRun run_with_cache(ResultCache& results, const std::vector<TestCase>& cases, bool use_cached = true,
                         size_t repeat = 1) {
  TestListing listing;
  RecordingUi ui;
  FakeJobs jobs;
  RunLoopOptions o;
  o.results = &results;
  o.use_cached_results = use_cached;
  o.repeat = repeat;
  o.hooks = [](const TestCase& tc) {  // program "skip": the test skips itself
    OutcomeHooks h;
    if (tc.spec.program == "skip") h.skipped = [](std::string_view) { return std::string("skipped: no GPU"); };
    return h;
  };
  CachedRun out;
  {
    TestRun run(jobs.submitter(), nullptr, listing, ui, o);
    run.add_cases(cases);
    out.result = run.finish(true);
  }
  out.finished = ui.finished;
  std::sort(out.finished.begin(), out.finished.end());
  out.submitted = jobs.submitted.size();
  return out;
}

TEST(RunLoop, ATestWhoseJobIsThatOfItsLastPassIsCachedNotRun) {
  ResultCache results;
  TestCase local = make_case("local", "pass");
  local.spec.container.network = Network::Local;
  TestCase uncached = make_case("uncached", "pass");
  uncached.cache = false;
  std::vector<TestCase> cases = {make_case("a", "pass"), make_case("b", "fail"), make_case("c", "pass"), local,
                                 uncached};
  CachedRun first = run_with_cache(results, cases);
  EXPECT_EQ(first.submitted, 5u);
  EXPECT_EQ(first.result.summary.cached, 0u);

  cases[2].spec.arguments = {"--changed"};  // c's job changed: it runs again
  CachedRun second = run_with_cache(results, cases);
  EXPECT_EQ(second.finished, (std::vector<std::string>{"pkg a CACHED", "pkg b FAIL", "pkg c OK", "pkg local OK",
                                                       "pkg uncached OK"}));
  EXPECT_EQ(second.submitted, 4u);
  EXPECT_EQ(second.result.summary.cached, 1u);
  EXPECT_EQ(second.result.summary.succeeded, 4u);
  EXPECT_EQ(second.result.exit_code, 3);
  ASSERT_EQ(second.result.junit.size(), 5u);

  // Now c is cached with its new job too; --no-cache and --repeat run everything.
  EXPECT_EQ(run_with_cache(results, cases).result.summary.cached, 2u);
  CachedRun all = run_with_cache(results, cases, /*use_cached=*/false);
  EXPECT_EQ(all.submitted, 5u);
  EXPECT_EQ(all.result.summary.cached, 0u);
  CachedRun repeated = run_with_cache(results, cases, true, /*repeat=*/2);
  EXPECT_EQ(repeated.submitted, 10u);
  EXPECT_EQ(repeated.result.summary.cached, 0u);
  EXPECT_EQ(run_with_cache(results, cases).result.summary.cached, 2u);  // still there
}

TEST(RunLoop, ATestThatSkippedItselfWithTheSameJobIsIgnoredAgainWithoutRunning) {
  ResultCache results;
  std::vector<TestCase> cases = {make_case("s", "skip")};
  CachedRun first = run_with_cache(results, cases);
  EXPECT_EQ(first.submitted, 1u);
  EXPECT_EQ(first.result.summary.ignored, (std::vector<std::string>{"pkg s"}));
  CachedRun second = run_with_cache(results, cases);
  EXPECT_EQ(second.submitted, 0u);
  EXPECT_EQ(second.finished, (std::vector<std::string>{"pkg s IGNORED"}));
  EXPECT_EQ(second.result.summary.ignored, (std::vector<std::string>{"pkg s"}));
  EXPECT_EQ(second.result.summary.cached, 0u);
  ASSERT_EQ(second.result.junit.size(), 1u);
  EXPECT_EQ(second.result.junit[0].result.details, "skipped: no GPU (cached)");  // the reason it gave
  EXPECT_TRUE(second.result.junit[0].result.from_cache);
  EXPECT_NE(junit_xml("t", second.result.junit).find("<system-out>cached: "), std::string::npos);
  EXPECT_EQ(run_with_cache(results, cases, /*use_cached=*/false).submitted, 1u);
  cases[0].spec.arguments = {"--changed"};  // another job: it runs
  EXPECT_EQ(run_with_cache(results, cases).submitted, 1u);
}

// Runs `t` (with its retries) twice, each time in a new run, through a submitter whose odd
// attempts fail and even ones exit 0; counts the attempts in `runs`.
std::vector<RunResult> run_failing_then_passing_twice(ResultCache& results, const TestCase& t, int& runs,
                                                      std::function<OutcomeHooks(const TestCase&)> hooks = nullptr) {
  JobSubmitter submit = [&runs](const JobSpec& s, std::function<void(JobState)> st,
                                std::function<void(JobOutcome)> done,
                                const JobAdmit& admit) -> std::optional<uint64_t> {
    if (admit && !admit(fake_resolved(s))) return std::nullopt;
    ++runs;
    st(JobState::Running);
    done(exited(runs % 2 == 1 ? 1 : 0));
    return runs;
  };
  std::vector<RunResult> out;
  for (int i = 0; i < 2; ++i) {
    TestListing listing;
    RecordingUi ui;
    RunLoopOptions o;
    o.results = &results;
    o.hooks = hooks;
    TestRun run(submit, nullptr, listing, ui, o);
    run.add_cases({t});
    out.push_back(run.finish(true));
  }
  return out;
}

TEST(RunLoop, ASkipOnARetryAfterAFailureIsNotCached) {
  ResultCache results;
  int runs = 0;
  // The first attempt fails, the retry skips itself: the failure must not be hidden next time.
  TestCase t = make_case("t", "skip");
  t.retries = 1;
  auto skips = [](const TestCase&) {
    OutcomeHooks h;
    h.skipped = [](std::string_view) { return std::string("skipped"); };
    return h;
  };
  for (const RunResult& r : run_failing_then_passing_twice(results, t, runs, skips))
    EXPECT_EQ(r.summary.ignored.size(), 1u);
  EXPECT_EQ(runs, 4);  // both runs ran it twice
  EXPECT_EQ(results.size(), 0u);
}

TEST(RunLoop, AFailureOrAFlakyPassForgetsTheCachedResult) {
  ResultCache results;
  TestCase a = make_case("a", "pass");
  run_with_cache(results, {a});
  EXPECT_EQ(run_with_cache(results, {a}).submitted, 0u);
  TestCase failing = make_case("a", "fail");
  EXPECT_EQ(run_with_cache(results, {failing}).result.summary.failed.size(), 1u);
  EXPECT_EQ(run_with_cache(results, {a}).submitted, 1u);  // the last run of a failed: it runs
  EXPECT_EQ(run_with_cache(results, {a}).submitted, 0u);
  // Under --repeat a failure forgets too.
  run_with_cache(results, {failing}, true, 2);
  EXPECT_EQ(run_with_cache(results, {a}).submitted, 1u);
  EXPECT_EQ(results.size(), 1u);

  // A pass on a retry is FLAKY, which is not cached.
  ResultCache flaky_results;
  int runs = 0;
  TestCase t = make_case("t", "flaky");
  t.retries = 1;
  for (const RunResult& r : run_failing_then_passing_twice(flaky_results, t, runs))
    EXPECT_EQ(r.summary.flaky.size(), 1u);
  EXPECT_EQ(runs, 4);
  EXPECT_EQ(flaky_results.size(), 0u);
}

TEST(RunLoop, ACachedTestUnderAHoldIsReportedWhenTheHoldIsConfirmed) {
  ResultCache results;
  results.record_pass("pkg", "pkg(library)", "a", *result_cache_key(fake_resolved(make_named_case("a", "pass").spec)));
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  RunLoopOptions o;
  o.results = &results;
  o.cancel_job = jobs.canceller();
  TestRun run(jobs.submitter(), nullptr, listing, ui, o);
  TestRun::HoldId hold = run.new_hold();
  run.add_cases({make_named_case("a", "pass"), make_named_case("b", "pass")}, hold);
  EXPECT_EQ(jobs.jobs.size(), 1u);
  EXPECT_TRUE(ui.finished.empty());
  EXPECT_TRUE(run.confirm_hold(hold));
  EXPECT_EQ(ui.finished, (std::vector<std::string>{"pkg a CACHED"}));
  jobs.end("b", 0);
  RunResult r = run.finish(true);
  EXPECT_EQ(r.summary.cached, 1u);
  EXPECT_EQ(r.summary.succeeded, 2u);
}

}  // namespace
}  // namespace mael
