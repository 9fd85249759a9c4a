#include "runner/test_listing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "base/test_temp_dir.h"

namespace mael {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The layout Maelstrom writes (see its test_db save test), plus a case with pytest metadata.
constexpr std::string_view kSample = R"T(version = 3

[package-1."artifact-1.binary".case-1-1B-1]
timings = [0.013, 0.014]
outcome = "success"

[package-1."artifact-1.binary".case-1-1B-2]
timings = [0.015, 0.016]
outcome = "failure"

[package-2."artifact-1.library".case-2-1L-1]
timings = []
outcome = "new"

[proj."tests/test_a.py"."test_a.py::TestX::test_y[1-2]"]
timings = [1.5, 2.0, 0.000001]
node_id = "tests/test_a.py::TestX::test_y[1-2]"
markers = ["slow", "net"]
outcome = "success"
)T";

using TempDir = testing::ScratchDir;

TEST(TestListing, RoundTripsMaelstromFormatExactly) {
  TestListing l = TestListing::parse(kSample, "test-listing.toml");
  EXPECT_EQ(l.to_toml(), kSample);
  const CaseData& c = l.packages().at("package-1").at("artifact-1.binary").at("case-1-1B-2");
  ASSERT_TRUE(c.when_read);
  EXPECT_EQ(c.when_read->outcome, CaseOutcome::Failure);
  EXPECT_EQ(c.when_read->timings, (std::vector<nanoseconds>{milliseconds(15), milliseconds(16)}));
  const CaseData& py = l.packages().at("proj").at("tests/test_a.py").at("test_a.py::TestX::test_y[1-2]");
  ASSERT_EQ(py.metadata.size(), 2u);
  EXPECT_EQ(py.metadata[0].key, "node_id");
  EXPECT_EQ(std::get<std::vector<std::string>>(py.metadata[1].value),
            (std::vector<std::string>{"slow", "net"}));
  EXPECT_FALSE(l.packages().at("package-2").at("artifact-1.library").at("case-2-1L-1").when_read);
}

TEST(TestListing, ReadsMaelstromVariants) {
  TestListing l = TestListing::parse(R"T(version = 3

[package-1."artifact-1.library".case-1]
outcome = "success"
timings = [0.01, 0.011]

[package-1."artifact-1.library".case-3]
timings = [0.03]

[package-1."artifact-1.library".case-4]
outcome = "failure"
timings = []

[package-1."artifact-1.library".case-6]
outcome = "new"
timings = [1]
)T",
                                     "f");
  EXPECT_EQ(l.get_case("package-1", "artifact-1.library", "case-1"),
            std::pair(CaseOutcome::Success, nanoseconds(milliseconds(10)) + nanoseconds(500000)));
  EXPECT_EQ(l.get_case("package-1", "artifact-1.library", "case-3"),
            std::pair(CaseOutcome::Success, nanoseconds(milliseconds(30))));  // no outcome: success
  EXPECT_FALSE(l.get_case("package-1", "artifact-1.library", "case-4"));      // no timings: new
  EXPECT_EQ(l.get_case("package-1", "artifact-1.library", "case-6")->first, CaseOutcome::Failure);
  EXPECT_FALSE(l.get_case("package-1", "artifact-1.library", "nope"));
  EXPECT_FALSE(l.get_case("package-9", "artifact-1.library", "case-1"));
}

TEST(TestListing, VersionHandling) {
  std::string note;
  TestListing old = TestListing::parse("version = 2\n[a.b.c]\nx = 1\n", "f", &note);
  EXPECT_TRUE(old.packages().empty());
  EXPECT_EQ(note, "f: version 2 is not 3; starting with an empty test listing");
  EXPECT_TRUE(TestListing::parse("version = 1000000\nfoo = \"bar\"\n", "f").packages().empty());
  EXPECT_THROW(TestListing::parse("foo = 3\n", "f"), UserError);
  EXPECT_THROW(TestListing::parse("version = \"v1\"\n", "f"), UserError);
  EXPECT_THROW(TestListing::parse("version = 3\n[[frob.blah]]\nfoo = 1\n", "f"), UserError);
  EXPECT_THROW(TestListing::parse("version = 3\n[a.b.c]\noutcome = \"success\"\n", "f"), UserError);
  EXPECT_THROW(TestListing::parse("version = 3\nnot toml", "f"), UserError);
  EXPECT_EQ(TestListing().to_toml(), "version = 3\n");
}

TEST(TestListing, UpdateCasesAndTimings) {
  TestListing l = TestListing::parse(kSample, "f");
  // Known case: keeps history; new case: added; missing case: dropped.
  l.update_artifact_cases("package-1", "artifact-1.binary", {{"case-1-1B-1", {}}, {"case-new", {}}});
  EXPECT_EQ(l.packages().at("package-1").at("artifact-1.binary").size(), 2u);
  EXPECT_TRUE(l.packages().at("package-1").at("artifact-1.binary").at("case-1-1B-1").when_read);
  EXPECT_EQ(l.schedule_hint("package-1", "artifact-1.binary", "case-new"), (ScheduleHint{1, std::nullopt}));

  l.update_case("package-1", "artifact-1.binary", "case-1-1B-1", false, milliseconds(20));
  l.update_case("package-1", "artifact-1.binary", "case-1-1B-1", false, milliseconds(30));
  const CaseData& c = l.packages().at("package-1").at("artifact-1.binary").at("case-1-1B-1");
  EXPECT_EQ(c.this_run->timings,
            (std::vector<nanoseconds>{milliseconds(14), milliseconds(20), milliseconds(30)}));
  // get_case reports what was read, not this run.
  EXPECT_EQ(l.get_case("package-1", "artifact-1.binary", "case-1-1B-1")->second, nanoseconds(13500000));
  // One failure among repeats makes the run a failure.
  l.update_case("package-1", "artifact-1.binary", "case-new", false, milliseconds(1));
  l.update_case("package-1", "artifact-1.binary", "case-new", true, milliseconds(2));
  l.update_case("package-1", "artifact-1.binary", "case-new", false, milliseconds(3));
  EXPECT_EQ(l.packages().at("package-1").at("artifact-1.binary").at("case-new").this_run->outcome,
            CaseOutcome::Failure);

  TestListing back = TestListing::parse(l.to_toml(), "f");
  EXPECT_EQ(back.get_case("package-1", "artifact-1.binary", "case-1-1B-1"),
            std::pair(CaseOutcome::Success, nanoseconds(milliseconds(64)) / 3));
  EXPECT_EQ(back.get_case("package-1", "artifact-1.binary", "case-new"),
            std::pair(CaseOutcome::Failure, nanoseconds(milliseconds(2))));

  l.retain_packages_and_artifacts({{"package-1", {"artifact-1.binary"}}, {"proj", {}}});
  EXPECT_EQ(l.packages().size(), 2u);
  EXPECT_TRUE(l.packages().at("proj").empty());
}

TEST(TestListing, ScheduleHintsAndOrder) {
  TestListing l = TestListing::parse(kSample, "f");
  EXPECT_EQ(l.schedule_hint("package-1", "artifact-1.binary", "case-1-1B-1"),
            (ScheduleHint{0, nanoseconds(13500000)}));
  EXPECT_EQ(l.schedule_hint("package-1", "artifact-1.binary", "case-1-1B-2"),
            (ScheduleHint{1, nanoseconds(15500000)}));
  EXPECT_EQ(l.schedule_hint("package-2", "artifact-1.library", "case-2-1L-1"),
            (ScheduleHint{1, std::nullopt}));

  std::vector<ScheduleHint> hints = {
      {0, milliseconds(5)},   // 0: passed, short
      {1, std::nullopt},      // 1: new
      {0, milliseconds(50)},  // 2: passed, long
      {1, milliseconds(1)},   // 3: failed, short
      {1, milliseconds(9)},   // 4: failed, longer
      {0, std::nullopt},      // 5: passed, unknown duration
  };
  EXPECT_EQ(schedule_order(hints), (std::vector<size_t>{4, 3, 1, 2, 0, 5}));
}

TEST(TestListing, SaveIsAtomicAndLoadsBack) {
  TempDir dir;
  auto file = test_listing_path(dir.path() / "maelstrom" / "state");
  EXPECT_EQ(file.filename(), "test-listing.toml");
  TestListing missing = TestListing::load(file);
  EXPECT_TRUE(missing.packages().empty());
  TestListing l = TestListing::parse(kSample, "f");
  l.save(file);
  EXPECT_EQ(TestListing::load(file), l);
  // Only the file itself is left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(file.parent_path())) ++entries;
  EXPECT_EQ(entries, 1u);
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, kSample);
}

}  // namespace
}  // namespace mael
