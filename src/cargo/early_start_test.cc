#include "cargo/early_start.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "base/file_signature.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

class NamesUi : public RunUi {
 public:
  void build_output(std::string_view) override {}
  void list_line(const std::string&) override {}
  void job_finished(uint64_t, const TestResult& r) override {
    std::lock_guard lk(mu);
    finished.push_back(r.name + " " + test_status_word(r.status));
  }
  void message(const std::string&) override {}
  void finish(const std::vector<std::string>&, const std::string&) override {}
  std::mutex mu;
  std::vector<std::string> finished;
};

// Jobs end at once with exit code 0; the cancel callback counts its calls.
struct Harness {
  fs::path dir = fs::temp_directory_path() / ("early-start-test-" + std::to_string(::getpid()));
  TestListing listing;
  NamesUi ui;
  int cancels = 0;
  TestRun run{[](const JobSpec&, std::function<void(JobState)>,
                 std::function<void(JobOutcome)> done) { done(JobOutcome{Exited{0}, {}}); },
              nullptr, listing, ui, {}};
  EarlyStart early{run, [this] { ++cancels; }};
  CargoPackage package{"pkg", "0.1.0", "pkg-id", "", {}};

  Harness() { fs::create_directories(dir); }
  ~Harness() {
    run.finish(true);
    fs::remove_all(dir);
  }
  // Writes binary NAME and starts one case of it early.
  BuiltTestBinary start(const std::string& name) {
    fs::path exe = dir / name;
    std::ofstream(exe) << name;
    int64_t changed = 0;
    BuiltTestBinary b{"pkg", name + "(test)", exe, file_signature(exe, &changed)};
    TestCase tc;
    tc.package = "pkg";
    tc.artifact = b.target;
    tc.case_name = "case";
    tc.name = name + " case";
    TestRun::HoldId hold = run.new_hold();
    run.add_cases({tc}, hold);
    EXPECT_TRUE(early.started(b, hold));
    return b;
  }
  TestArtifact reported(const BuiltTestBinary& b, bool fresh) {
    return {&package, {b.executable.filename().string(), ArtifactKind::Test}, b.executable, fresh};
  }
};

TEST(EarlyStart, ConfirmsBinariesCargoFoundFreshAndUnchanged) {
  Harness h;
  auto a = h.start("a");
  auto b = h.start("b");
  auto c = h.start("c");
  auto gone = h.start("gone");
  EXPECT_TRUE(h.ui.finished.empty());  // their jobs ended, unseen so far
  std::vector<TestArtifact> ready = {h.reported(a, true), h.reported(b, false), h.reported(c, true)};
  EXPECT_TRUE(h.early.keep_back(ready));
  EXPECT_TRUE(ready.empty());
  // c changed after it was started (another build wrote it).
  fs::remove(c.executable);
  std::ofstream(c.executable) << "c, rebuilt";
  std::vector<TestArtifact> rest = h.early.settle(/*rebuilt=*/false);
  ASSERT_EQ(rest.size(), 2u);  // b (not fresh) and c (changed) run as usual
  EXPECT_EQ(rest[0].executable, b.executable);
  EXPECT_EQ(rest[1].executable, c.executable);
  EXPECT_EQ(h.ui.finished, (std::vector<std::string>{"a case OK"}));
  EXPECT_EQ(h.cancels, 0);
  // Waiting is over: artifacts pass.
  std::vector<TestArtifact> later = {h.reported(gone, true)};
  EXPECT_FALSE(h.early.keep_back(later));
  EXPECT_EQ(later.size(), 1u);
}

TEST(EarlyStart, CompilingDropsEveryEarlyResultAndCancelsTheJobs) {
  Harness h;
  auto a = h.start("a");
  std::vector<TestArtifact> ready = {h.reported(a, true)};
  EXPECT_TRUE(h.early.keep_back(ready));
  h.early.give_up();
  h.early.give_up();  // once
  EXPECT_EQ(h.cancels, 1);
  // What was kept back comes out with the next artifacts.
  std::vector<TestArtifact> more;
  EXPECT_FALSE(h.early.keep_back(more));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].executable, a.executable);
  EXPECT_TRUE(h.early.settle(false).empty());
  EXPECT_TRUE(h.ui.finished.empty());
  // Too late to start more.
  TestRun::HoldId hold = h.run.new_hold();
  EXPECT_FALSE(h.early.started(a, hold));
}

TEST(EarlyStart, ABuildThatRebuiltSomethingConfirmsNothing) {
  Harness h;
  auto a = h.start("a");
  std::vector<TestArtifact> ready = {h.reported(a, true)};
  EXPECT_TRUE(h.early.keep_back(ready));
  std::vector<TestArtifact> rest = h.early.settle(/*rebuilt=*/true);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(h.cancels, 1);
  EXPECT_TRUE(h.ui.finished.empty());
}

}  // namespace
}  // namespace mael
