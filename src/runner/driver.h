#pragma once
// The one pipeline of every test runner (cargo-maelstrom, maelstrom-go-test, maelstrom-pytest):
// command line and config, the spec file and --init, the filter, discovery, the build with its
// output shown live, listing each test binary (cached between runs), one container job per test
// case through the run loop, signals, --watch, the UI, the summary, the listing file and JUnit.
//
// A language plugs in through TestAdapter: it finds the project and its packages, builds test
// binaries (reporting each one as it is ready), lists a binary's cases and makes a case's job.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "runner/adapters.h"
#include "runner/binary_layers.h"
#include "runner/case_list_cache.h"
#include "runner/directives.h"
#include "runner/filter.h"
#include "runner/run_loop.h"
#include "runner/template_vars.h"

namespace mael {

// A package of the project, as the filter and --list-packages see it.
struct DriverPackage {
  std::string display;  // its --list-packages line
  FilterFields fields;  // the package-level filter fields
};

struct Project {
  std::filesystem::path root;           // the spec file's directory; --watch watches it
  std::filesystem::path state_dir;      // the test listing and the case-list cache
  std::filesystem::path default_cache;  // the local worker's cache unless one is configured
  TemplateVars vars;                    // substituted in the spec file's layer paths
  // What a run writes inside the project, which --watch must not take for an edit.
  std::vector<std::filesystem::path> outputs;
  std::vector<DriverPackage> packages;
  // Listing keys (package -> artifacts) still in the project; other listing entries are dropped.
  std::map<std::string, std::set<std::string>> listing_keys;
  // False when discovery could not tell (pytest's collection failed): the listing is kept whole.
  bool listing_keys_known = true;
};

// A built test binary ready to be listed and run.
struct TestBinary {
  size_t package = 0;             // index in Project::packages
  std::string package_key;        // the test listing's package key
  std::string artifact;           // the test listing's artifact key
  std::filesystem::path executable;
  FilterFields fields;            // every field but the case's own (name)
  size_t target = 0;              // the adapter's own handle (cargo: the target's index)
};

// What the adapter's build reports to, and what it may use (implemented by the driver).
class BuildSink {
 public:
  virtual ~BuildSink() = default;
  // Build output, shown live (simple UI) or kept for the end of the run.
  virtual void output(std::string_view text) = 0;
  // A test binary is ready: it is listed and its cases submitted on the driver's threads
  // (with --list-tests, on the caller's, so that the output keeps the build's order).
  virtual void ready(TestBinary binary) = 0;
  // The build should stop: the run was stopped (--stop-after, interrupted) or listing failed.
  virtual bool stop_requested() const = 0;
  // Whether tests run in this invocation (false for --list-tests).
  virtual bool running_tests() const = 0;
  // The longest mean run time the test listing recorded for a test of the package (0: none
  // known), so that a build can start the packages with the longest tests first.
  virtual std::chrono::nanoseconds longest_known_test(const std::string& package_key) const = 0;
  // For starting tests before the build tool has checked their binary (cargo's early start):
  // the run, the cases listed for a binary last time, submitting them under a hold, and
  // forgetting layers memoized from files the build may have rewritten.
  virtual TestRun& run() = 0;
  virtual std::optional<ListedCases> known_cases(const std::filesystem::path& executable) = 0;
  virtual void submit_known(const TestBinary& binary, const ListedCases& cases, TestRun::HoldId hold) = 0;
  virtual void forget_layers() = 0;
  // The spec file, for an adapter whose build runs a job of its own (pytest's collection).
  virtual const TestSpecFile& spec() const = 0;
};

struct BuildResult {
  int exit_code = 0;       // the build tool's; non-zero: the build failed
  std::string output;      // its whole output, as shown after the run
  std::string failure;     // when it failed: "cargo test exited with code 101", ...
  bool cut_short = false;  // stopped before it ended (stop_requested)
  // Listing keys found by the build (pytest's collection), applied like Project::listing_keys.
  std::optional<std::map<std::string, std::set<std::string>>> listing_keys;
};

struct ListFlags {
  bool tests = false;     // -l, --list-tests, --list
  bool packages = false;  // --list-packages
};

class TestAdapter {
 public:
  virtual ~TestAdapter() = default;

  virtual const AdapterInfo& info() const = 0;
  // The config value that takes the words after `--`.
  virtual std::string trailing_args_key() const { return "extra-test-binary-args"; }
  // --help's first line.
  virtual std::string description() const = 0;
  // The words as the parser should see them (`cargo maelstrom ARGS` drops "maelstrom").
  virtual std::vector<std::string> rewrite_args(std::vector<std::string> words) { return words; }
  // The adapter's config values (the shared ones are added by the driver) and flags (the
  // driver's listing flags are on `app` already, for `excludes`).
  virtual void add_config(ConfigLoader& loader) = 0;
  virtual void add_flags(CLI::App& app) { (void)app; }
  // Reads the adapter's values once the config is loaded.
  virtual void configure(const Config& config) = 0;
  // Where the local worker's cache is by default, for --help ("maelstrom/cache in cargo's
  // target directory").
  virtual std::string default_cache_description() const = 0;
  // Whether listing tests runs jobs too (pytest collects in the test container), so that the
  // client is started for --list as well.
  virtual bool lists_in_containers() const { return false; }
  // Whether one of the adapter's own listing flags was given (no --watch loop then).
  virtual bool listing_only() const { return false; }

  // Finds the project and its packages. `build_everything` is true when every package will be
  // built (no filter, tests to run): an adapter may start the build before discovery ends,
  // with colored output when `color` (as for build()).
  virtual Project discover(bool build_everything, bool color) = 0;
  // The project's root, for --init (no more discovery than that needs).
  virtual std::filesystem::path project_root() { return discover(false, false).root; }
  // The run is over, whichever way it ended: stop what discover() started and build() did not
  // take over (cargo's early build).
  virtual void end_run() {}
  // Listing flags of the adapter's own that need no build: prints and returns the exit code.
  virtual std::optional<int> list_without_build(const Project& project, const Filter& filter) {
    (void)project, (void)filter;
    return std::nullopt;
  }
  // Builds the selected packages' test binaries, reporting each to `sink` when ready, with the
  // build output shown as it comes. `color`: the simple UI writes to a terminal.
  virtual BuildResult build(const Project& project, const std::vector<size_t>& selected, bool color,
                            BuildSink& sink) = 0;
  // Lists a binary's cases (the driver caches the answer while the file is unchanged, when
  // cache_case_lists()).
  virtual ListedCases list_cases(const Project& project, const TestBinary& binary) = 0;
  // False when a binary's file does not determine its cases (pytest: conftest files and
  // parametrization do), so that they are listed afresh each run.
  virtual bool cache_case_lists() const { return true; }
  // A case's metadata in the test listing (pytest: node_id and markers, as Maelstrom writes).
  virtual CaseMetadata listing_metadata(const TestBinary& binary, const std::string& case_name) {
    (void)binary, (void)case_name;
    return {};
  }
  // The name a case is shown with, and its filter fields (the binary's and the case's).
  virtual std::string display_name(const TestBinary& binary, const std::string& case_name) = 0;
  // By default the binary's fields and `name`, the case's name.
  virtual FilterFields case_fields(const TestBinary& binary, const std::string& case_name) {
    FilterFields f = binary.fields;
    f.strings["name"] = case_name;
    return f;
  }
  // Completes a case's job: the driver has set the container from the spec file, the timeout
  // and limits; the adapter adds its layers (`layers`: the binary's and its libraries'),
  // program and arguments.
  virtual void make_job(const TestBinary& binary, const TestMetadata& md, TestBinaryLayers& layers,
                        TestCase& tc) = 0;
  // The submitter the run's jobs go through (pytest gathers its items into warm batches); the
  // adapter keeps what it makes until end_run().
  virtual JobSubmitter wrap_submitter(JobSubmitter inner) { return inner; }
  // How a case's output is read (cargo trims the harness's lines).
  virtual OutcomeHooks outcome_hooks(const TestCase& tc) {
    (void)tc;
    return {};
  }
};

// The usual start of make_job for a compiled test binary: the binary at `/`, its libraries when
// the spec file wants them, and the binary as the program.
void run_test_binary(const TestBinary& binary, const TestMetadata& md, TestBinaryLayers& layers, TestCase& tc);

// Runs a test runner's whole command line; returns the exit code.
int run_test_runner(TestAdapter& adapter, int argc, char** argv);

}  // namespace mael
