#include "cargo/early_start.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include "base/file_signature.h"
#include "runner/run_loop_fakes.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

// The run's jobs run until the test ends or cancels them.
struct Harness {
  fs::path dir = fs::temp_directory_path() / ("early-start-test-" + std::to_string(::getpid()));
  TestListing listing;
  RecordingUi ui;
  PendingJobs jobs;
  TestRun run{jobs.submitter(), nullptr, listing, ui, options()};
  EarlyStart early{run};
  CargoPackage package{"pkg", "0.1.0", "pkg-id", "", {}};

  RunLoopOptions options() {
    RunLoopOptions o;
    o.cancel_job = jobs.canceller();
    return o;
  }
  Harness() { fs::create_directories(dir); }
  ~Harness() {
    for (size_t i = 0; i < jobs.jobs.size(); ++i) jobs.end(i, exited(0));
    run.finish(true);
    fs::remove_all(dir);
  }
  // Writes binary NAME and starts its one case early (job id: the order of starts).
  BuiltTestBinary start(const std::string& name) {
    fs::path exe = dir / name;
    std::ofstream(exe) << name;
    BuiltTestBinary b{"pkg", name + "(test)", exe, file_signature(exe)};
    std::optional<TestRun::HoldId> hold = early.begin(b);
    EXPECT_TRUE(hold.has_value());
    TestCase tc;
    tc.package = "pkg";
    tc.artifact = b.target;
    tc.case_name = "case";
    tc.name = name + " case";
    run.add_cases({tc}, hold);
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
  h.jobs.end(0, exited(0));
  EXPECT_TRUE(h.ui.finished.empty());  // a's job ended, unseen so far
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
  // The jobs of b, c and gone (not in this build) are cancelled, unseen.
  EXPECT_EQ(h.jobs.cancelled, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(h.ui.finished.size(), 1u);
  // Waiting is over: artifacts pass.
  std::vector<TestArtifact> later = {h.reported(gone, true)};
  EXPECT_FALSE(h.early.keep_back(later));
  EXPECT_EQ(later.size(), 1u);
}

TEST(EarlyStart, CompilingDropsEveryEarlyHold) {
  Harness h;
  auto a = h.start("a");
  std::vector<TestArtifact> ready = {h.reported(a, true)};
  EXPECT_TRUE(h.early.keep_back(ready));
  h.early.give_up();
  h.early.give_up();  // once
  EXPECT_EQ(h.jobs.cancelled, (std::vector<uint64_t>{0}));
  // What was kept back comes out with the next artifacts.
  std::vector<TestArtifact> more;
  EXPECT_FALSE(h.early.keep_back(more));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].executable, a.executable);
  EXPECT_TRUE(h.early.settle(false).empty());
  EXPECT_TRUE(h.ui.finished.empty());
  // Too late to start more.
  EXPECT_FALSE(h.early.begin(a).has_value());
  EXPECT_EQ(h.early.binaries(), 1u);
}

TEST(EarlyStart, ABuildThatRebuiltSomethingConfirmsNothing) {
  Harness h;
  auto a = h.start("a");
  std::vector<TestArtifact> ready = {h.reported(a, true)};
  EXPECT_TRUE(h.early.keep_back(ready));
  std::vector<TestArtifact> rest = h.early.settle(/*rebuilt=*/true);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(h.jobs.cancelled, (std::vector<uint64_t>{0}));
  EXPECT_TRUE(h.ui.finished.empty());
}

TEST(EarlyStart, FindsTheRecordedTestTarget) {
  CargoPackage p{"pkg", "0.1.0", "pkg-id", "", {{"pkg", ArtifactKind::Library}, {"it", ArtifactKind::Test},
                                                {"nt", ArtifactKind::Test, /*test=*/false}}};
  std::vector<const CargoPackage*> selected = {&p};
  auto found = recorded_artifact({"pkg", "it(test)", "/t/it-1", ""}, selected);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->package, &p);
  EXPECT_EQ(found->target.name, "it");
  EXPECT_EQ(found->executable, "/t/it-1");
  EXPECT_FALSE(recorded_artifact({"pkg", "it(library)", "/t/it-1", ""}, selected).has_value());
  EXPECT_FALSE(recorded_artifact({"pkg", "nt(test)", "/t/nt-1", ""}, selected).has_value());  // test = false
  EXPECT_FALSE(recorded_artifact({"other", "it(test)", "/t/it-1", ""}, selected).has_value());
}

}  // namespace
}  // namespace mael
