#pragma once
// The test listing file, Maelstrom's `<state-dir>/test-listing.toml` (version 3): every known test
// case by package and artifact, with the last (up to 3) run times and the outcome of the last
// run. It tells which tests are new or failed last time, and how long each is expected to take;
// the scheduler runs those first and then the longest first (LPT).
//
// On disk (keys sorted; artifact keys are adapter strings, e.g. cargo's "NAME(KIND)"):
//   version = 3
//
//   [package-1."artifact-1(library)"."tests::case_1"]
//   timings = [0.013, 0.014]       # seconds, oldest first
//   outcome = "success"            # or "failure"; "new" when never run (timings empty)
// Adapter case metadata (pytest's node_id and markers) sits between timings and outcome.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mael {

enum class CaseOutcome : uint8_t { Success, Failure };

// Adapter-defined per-case data stored in the listing, in the order written.
struct CaseMetadataField {
  std::string key;
  std::variant<std::string, std::vector<std::string>> value;
  bool operator==(const CaseMetadataField&) const = default;
};
using CaseMetadata = std::vector<CaseMetadataField>;

struct CaseRecord {
  CaseOutcome outcome = CaseOutcome::Success;
  std::vector<std::chrono::nanoseconds> timings;  // oldest first, at most kMaxTimings
  bool operator==(const CaseRecord&) const = default;
};

struct CaseData {
  CaseMetadata metadata;
  std::optional<CaseRecord> when_read;  // from the file; nullopt: new (or never run)
  std::optional<CaseRecord> this_run;   // accumulated by update_case since loading
  bool operator==(const CaseData&) const = default;
};

// What the scheduler gets for a test: priority 1 for new and last-failed tests, else 0; and
// the mean of the recorded timings when there are any.
struct ScheduleHint {
  int32_t priority = 1;
  std::optional<std::chrono::nanoseconds> estimated_duration;
  bool operator==(const ScheduleHint&) const = default;
};

class TestListing {
 public:
  static constexpr int kVersion = 3;
  static constexpr size_t kMaxTimings = 3;
  using Artifact = std::map<std::string, CaseData>;  // case name -> data
  using Package = std::map<std::string, Artifact>;   // artifact key -> cases
  using Packages = std::map<std::string, Package>;   // package name -> artifacts

  // Reads `file`. A missing file is an empty listing. A file of another version is ignored
  // (empty listing) and `note`, when given, says so. A file that is not valid TOML, has no
  // integer `version` or a malformed entry throws UserError naming the file.
  static TestListing load(const std::filesystem::path& file, std::string* note = nullptr);
  static TestListing parse(std::string_view text, const std::string& source, std::string* note = nullptr);
  // Writes atomically (temporary file in the same directory, fsync, rename), creating the
  // directory if needed.
  void save(const std::filesystem::path& file) const;
  std::string to_toml() const;

  // Sets an artifact's cases to exactly `cases` (name, metadata): new ones are added, known ones
  // keep their history and take the new metadata, others are dropped.
  void update_artifact_cases(const std::string& package, const std::string& artifact,
                             const std::vector<std::pair<std::string, CaseMetadata>>& cases);
  // Keeps only these packages and, in each, these artifacts.
  void retain_packages_and_artifacts(const std::map<std::string, std::set<std::string>>& keep);
  // Records one run of a case (added first if unknown). With --repeat, any failure in this run
  // makes the case's outcome a failure; timings keep the last kMaxTimings.
  void update_case(const std::string& package, const std::string& artifact, const std::string& case_name,
                   bool failed, std::chrono::nanoseconds duration);

  // What the file said about the case (this run's updates are not included): outcome and mean
  // duration; nullopt when the case is new or had no timings.
  std::optional<std::pair<CaseOutcome, std::chrono::nanoseconds>> get_case(
      const std::string& package, const std::string& artifact, const std::string& case_name) const;
  ScheduleHint schedule_hint(const std::string& package, const std::string& artifact,
                             const std::string& case_name) const;

  const Packages& packages() const { return packages_; }
  bool operator==(const TestListing&) const = default;

 private:
  Packages packages_;
};

// Indices of `hints` in the order to start them: higher priority first, then longer estimated
// duration first (unknown durations after known ones), ties in input order.
std::vector<size_t> schedule_order(const std::vector<ScheduleHint>& hints);

// The listing's place under a state directory: STATE_DIR/test-listing.toml.
std::filesystem::path test_listing_path(const std::filesystem::path& state_dir);

}  // namespace mael
