#pragma once
// Cached results: a test whose resolved job (every layer's digest, the program, arguments,
// environment, mounts, user, group, working directory, network, timeout and limits) is the
// job of its last passing run is not run again, and is reported CACHED. Layers are
// content-addressed, so a rebuilt test binary keeps its entry only while it is byte-identical.
//
// Never cached: jobs that must run on this machine (`network = "local"`, bind mounts), whose
// outcome depends on more than the job says, and tests whose directives say `cache = false`.
//
// On disk, beside the test listing (`<state-dir>/test-results.json`), written atomically:
//   {"version": 1, "tool": "cargo-maelstrom 0.1.0", "passed": {PACKAGE: {ARTIFACT: {CASE: KEY}}},
//    "skipped": {PACKAGE: {ARTIFACT: {CASE: [KEY, REASON]}}}}   ("skipped" may be absent)
// A damaged file is ignored (every test runs) with a warning. Entries written by another tool or
// version are dropped quietly: how a job's outcome is judged may have changed.
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "spec/spec.h"

namespace mael {

// The job's cache key: the SHA-256 of its canonical description, everything but priority and
// estimated duration (scheduling hints that do not change the outcome). nullopt for a job that
// must run locally.
std::optional<std::string> result_cache_key(const ResolvedJob& job);

// What the last run of a test with a given job gave, when it can stand for a new run.
struct CachedOutcome {
  bool skipped = false;  // false: it passed
  std::string reason;    // why it skipped ("" when it gave no reason)
};

class ResultCache {
 public:
  // `tool` names the program and its version ("cargo-maelstrom 0.1.0"), written with the entries.
  explicit ResultCache(std::string tool = {}) : tool_(std::move(tool)) {}

  // Reads `file` in place of the entries: a missing file is an empty cache, and so is a damaged
  // one, for which the warning to show (a line naming the file) is returned, and one another
  // tool or version wrote (no warning).
  std::optional<std::string> load(const std::filesystem::path& file);

  // Thread-safe. What the test's last run gave, if that run had this key and passed or skipped.
  std::optional<CachedOutcome> lookup(const std::string& package, const std::string& artifact,
                                      const std::string& test_case, const std::string& key) const;
  bool passed(const std::string& package, const std::string& artifact, const std::string& test_case,
              const std::string& key) const {
    auto o = lookup(package, artifact, test_case, key);
    return o && !o->skipped;
  }
  void record_pass(const std::string& package, const std::string& artifact, const std::string& test_case,
                   const std::string& key);
  // The test skipped itself, giving `reason`.
  void record_skip(const std::string& package, const std::string& artifact, const std::string& test_case,
                   const std::string& key, const std::string& reason);
  // The test failed (or was flaky): it runs next time whatever its key.
  void forget(const std::string& package, const std::string& artifact, const std::string& test_case);
  // Drops the entries of tests for which `known` is false (tests no longer in the listing).
  void retain(const std::function<bool(const std::string& package, const std::string& artifact,
                                       const std::string& test_case)>& known);
  size_t size() const;

  // Writes the entries to `file` atomically (creating its directory); throws std::exception.
  void save(const std::filesystem::path& file) const;

 private:
  using Id = std::tuple<std::string, std::string, std::string>;
  struct Entry {
    std::string key;
    std::optional<std::string> skipped;  // the reason; nullopt: it passed
  };
  std::string tool_;
  mutable std::mutex mu_;
  std::map<Id, Entry> entries_;  // under mu_
};

// The file beside the test listing.
std::filesystem::path result_cache_path(const std::filesystem::path& state_dir);

}  // namespace mael
