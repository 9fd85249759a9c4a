#pragma once
// Test doubles for the run loop and what drives it (include from tests only): a UI that keeps
// what it is told, and jobs that run until the test ends or cancels them.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "runner/run_loop.h"
#include "runner/run_ui.h"

namespace mael {

// Keeps "NAME STATUS" for every finished test, in order, and the messages.
class RecordingUi : public RunUi {
 public:
  void build_output(std::string_view) override {}
  void list_line(const std::string&) override {}
  void job_finished(uint64_t, const TestResult& r) override {
    std::lock_guard lk(mu);
    finished.push_back(r.name + " " + test_status_word(r.status));
  }
  void message(const std::string& line) override {
    std::lock_guard lk(mu);
    messages.push_back(line);
  }
  void finish(const std::vector<std::string>&, const std::string&) override {}
  std::vector<std::string> messages_now() {
    std::lock_guard lk(mu);
    return messages;
  }
  std::mutex mu;
  std::vector<std::string> finished;
  std::vector<std::string> messages;
};

// The job a fake submitter resolves `s` to: its program, arguments and environment as given, and
// the host network when its container asks for it.
inline ResolvedJob fake_resolved(const JobSpec& s) {
  ResolvedJob j;
  j.program = s.program;
  j.arguments = s.arguments;
  if (s.container.network) j.network = *s.container.network;
  return j;
}

// An exit after 5 ms.
inline JobOutcome exited(int code) {
  JobOutcome o{Exited{code}, {}};
  o.effects.duration = std::chrono::milliseconds(5);
  return o;
}

// Jobs kept until the test ends them, like jobs still running; a job's id is its index. Program
// "bad" cannot be submitted (a missing layer file).
struct PendingJobs {
  struct Job {
    JobSpec spec;
    std::function<void(JobState)> state;
    std::function<void(JobOutcome)> done;
  };
  std::vector<Job> jobs;
  std::vector<uint64_t> cancelled;

  JobSubmitter submitter() {
    return [this](const JobSpec& s, std::function<void(JobState)> st, std::function<void(JobOutcome)> done,
                  const JobAdmit& admit) -> std::optional<uint64_t> {
      if (s.program == "bad") throw UserError("missing layer file");
      if (admit && !admit(fake_resolved(s))) return std::nullopt;
      jobs.push_back({s, std::move(st), std::move(done)});
      return jobs.size() - 1;
    };
  }
  // The run loop's cancel_job: records the id, and the job ends as cancelled jobs do.
  std::function<void(uint64_t)> canceller() {
    return [this](uint64_t id) {
      cancelled.push_back(id);
      end(id, JobOutcome{JobError{JobErrorKind::System, "job cancelled"}, {}});
    };
  }
  // Ends job `id` (if it has not ended) with `outcome`.
  void end(uint64_t id, JobOutcome outcome) {
    if (auto done = std::exchange(jobs.at(id).done, nullptr)) done(std::move(outcome));
  }
  // Ends the job whose last argument is `name` with the exit code.
  void end(const std::string& name, int code) {
    for (auto& j : jobs)
      if (j.spec.arguments.back() == name && j.done) {
        j.state(JobState::Running);
        std::exchange(j.done, nullptr)(exited(code));
        return;
      }
    ADD_FAILURE() << "no job for " << name;
  }
};

}  // namespace mael
