#pragma once
// maelstrom-pytest's warm interpreters: jobs that each run one pytest item ("fresh" jobs, one
// interpreter per test, as Maelstrom runs them) are gathered, as the run loop submits them, into
// batches of items of one file with the same container, and each batch runs as one job whose
// Python process imports pytest, the conftest chain and the module once and forks an isolated
// process per item (warm_script.cc). Each item's result is handed back as the outcome of its
// own job, so the run loop, the UI and the reports see one job per test as before.
//
// An item whose result the batch does not bring back (the batch died, its output was cut at
// the inline limit, its collection failed, or forks cannot isolate themselves on that machine)
// runs again as its fresh job, so a batch can change how fast a test runs, never its result.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "runner/run_loop.h"
#include "spec/spec.h"

namespace mael {

// What a batch job's stdout said.
struct WarmOutput {
  std::optional<std::string> isolation_problem;  // forks cannot isolate themselves here
  std::optional<int> collection_failed;          // pytest's exit code
  // Each item's outcomes, in the order they ran (an item submitted twice runs twice).
  std::map<std::string, std::vector<JobOutcome>> outcomes;
};
WarmOutput parse_warm_output(std::string_view stdout_text);

struct WarmPlan {
  // The item a fresh job runs when it may join a batch (nullopt: it runs as it is).
  std::function<std::optional<std::string>(const JobSpec&)> item_of;
  // The batch job for `items`, all of whose fresh jobs equal `first` but for their item.
  std::function<JobSpec(const JobSpec& first, const std::vector<std::string>& items)> batch_job;
  size_t slots = 1;  // spread over this many batches when a group is large enough
  // A group this large goes at once, as one batch, while more items of it may still come (a
  // warm process costs about 30 tests' worth to start: batches must be large to pay).
  size_t batch = 64;
  // So does a group whose members' known durations (the listing's, estimated_duration) add up
  // to this: long tests do not queue one after another in one batch while another slot idles,
  // and none waits in a batch long enough to be taken for a slow test.
  std::chrono::milliseconds batch_time{5000};
  // How long a smaller group waits for more items after its last one came. Items come as fast
  // as the run loop resolves their jobs (their cached-result check), a few milliseconds each.
  std::chrono::milliseconds gather{50};
};

class WarmBatcher {
 public:
  WarmBatcher(JobSubmitter inner, WarmPlan plan);
  ~WarmBatcher();
  WarmBatcher(const WarmBatcher&) = delete;
  WarmBatcher& operator=(const WarmBatcher&) = delete;

  // Takes the run loop's jobs: fresh item jobs are gathered, anything else goes straight on.
  // `admit` (cached results) is asked at once, with the item's own resolved job: nullopt when it
  // keeps the item from running.
  std::optional<uint64_t> submit(const JobSpec& spec, std::function<void(JobState)> on_state,
                                 std::function<void(JobOutcome)> on_done, const JobAdmit& admit);

 private:
  struct Member {
    std::string item;
    JobSpec spec;
    std::function<void(JobState)> on_state;
    std::function<void(JobOutcome)> on_done;
  };
  struct Group {
    JobSpec key;  // the fresh job without its item
    std::vector<Member> members;
    std::chrono::steady_clock::time_point last_added;
    std::chrono::milliseconds known{0};  // the members' estimated durations, added up
  };

  void flush_loop();
  void launch(Group group);
  void launch_chunk(const JobSpec& key, std::vector<Member> members);
  void finish(const std::vector<Member>& members, const JobOutcome& outcome);
  void run_fresh(const Member& m);

  JobSubmitter inner_;
  WarmPlan plan_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Group> groups_;
  std::vector<Group> full_;  // groups that reached a batch's size, to launch
  std::vector<Member> again_;  // items a batch did not bring back, to run fresh
  bool closing_ = false;
  uint64_t next_id_ = 0;
  std::thread flusher_;  // last: starts once the rest exists
};

}  // namespace mael
