#pragma once
// pytest's collection, kept between runs: the output of the last collection job that succeeded,
// under that job's key (runner/result_cache.h's result_cache_key: every layer's digest, the
// program, arguments, environment, mounts...). Collection runs in the test container, which sees
// only what the job says, so a collection job whose key is the same would collect the same items:
// it is not run, and the kept output stands for it. Jobs that must run on this machine have no
// key and are never kept.
//
// On disk (`<state-dir>/collection.json`, written atomically):
//   {"version": 1, "tool": "maelstrom-pytest 0.1.0", "key": KEY, "stdout": OUTPUT}
// A missing, damaged or other tool's file is no record: collection runs.
#include <filesystem>
#include <optional>
#include <string>

namespace mael {

struct CollectionRecord {
  std::string key;
  std::string stdout_;  // the collection job's standard output, as it gave it
};

std::filesystem::path collection_record_path(const std::filesystem::path& state_dir);
std::optional<CollectionRecord> load_collection_record(const std::filesystem::path& file, const std::string& tool);
// Throws std::exception when the file cannot be written.
void save_collection_record(const std::filesystem::path& file, const std::string& tool, const CollectionRecord& r);

}  // namespace mael
