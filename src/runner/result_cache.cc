#include "runner/result_cache.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/digest.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

constexpr int kVersion = 1;

nlohmann::json optional_number(const std::optional<uint64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

std::optional<std::string> result_cache_key(const ResolvedJob& job) {
  if (job.must_run_locally()) return std::nullopt;
  // An array in a fixed order: the same job always gives the same text. The leading tag changes
  // whenever the meaning of a field does, so that old keys never match.
  nlohmann::json layers = nlohmann::json::array();
  for (const Digest& d : job.layers) layers.push_back(d.hex());
  nlohmann::json mounts = nlohmann::json::array();
  for (const Mount& m : job.mounts) {
    nlohmann::json devices = nlohmann::json::array();
    for (Device d : m.devices) devices.push_back(device_name(d));
    mounts.push_back(nlohmann::json::array({static_cast<int>(m.type), m.mount_point, m.local_path, m.read_only, devices}));
  }
  nlohmann::json j = nlohmann::json::array({"mael-job-v1",
                      layers,
                      job.enable_writable_file_system,
                      mounts,
                      network_name(job.network),
                      job.program,
                      job.arguments,
                      job.environment,
                      job.working_directory,
                      job.user,
                      job.group,
                      job.timeout ? nlohmann::json(job.timeout->count()) : nlohmann::json(nullptr),
                      optional_number(job.limits.max_processes),
                      optional_number(job.limits.max_memory),
                      optional_number(job.limits.max_tmpfs_size)});
  return Digest::of_bytes(j.dump()).hex();
}

fs::path result_cache_path(const fs::path& state_dir) {
  return state_dir / "test-results.json";
}

std::optional<std::string> ResultCache::load(const fs::path& file) {
  std::map<Id, std::string> entries;
  auto damaged = [&](const std::string& why) -> std::optional<std::string> {
    std::lock_guard lk(mu_);
    passed_.clear();
    return "warning: ignoring the cached results in " + file.string() + " (" + why +
           "): every test runs; the file is rewritten at the end of the run";
  };
  std::ifstream in(file);
  if (!in) {
    std::lock_guard lk(mu_);
    passed_.clear();
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return damaged("not valid JSON");
  if (!j.is_object() || !j.contains("version") || !j["version"].is_number_integer())
    return damaged("no version");
  if (j["version"].get<int64_t>() != kVersion) return damaged("an unknown version");
  auto tool = j.find("tool");
  if (tool == j.end() || !tool->is_string()) return damaged("no `tool`");
  if (tool->get<std::string>() != tool_) {  // another version: its passes may not be ours
    std::lock_guard lk(mu_);
    passed_.clear();
    return std::nullopt;
  }
  auto passed = j.find("passed");
  if (passed == j.end() || !passed->is_object()) return damaged("no `passed` table");
  for (const auto& [package, artifacts] : passed->items()) {
    if (!artifacts.is_object()) return damaged("package " + package + " is not a table");
    for (const auto& [artifact, cases] : artifacts.items()) {
      if (!cases.is_object()) return damaged("artifact " + artifact + " is not a table");
      for (const auto& [name, key] : cases.items()) {
        if (!key.is_string()) return damaged("the key of " + name + " is not a string");
        entries[{package, artifact, name}] = key.get<std::string>();
      }
    }
  }
  std::lock_guard lk(mu_);
  passed_ = std::move(entries);
  return std::nullopt;
}

bool ResultCache::passed(const std::string& package, const std::string& artifact, const std::string& test_case,
                         const std::string& key) const {
  std::lock_guard lk(mu_);
  auto it = passed_.find({package, artifact, test_case});
  return it != passed_.end() && it->second == key;
}

void ResultCache::record_pass(const std::string& package, const std::string& artifact,
                              const std::string& test_case, const std::string& key) {
  std::lock_guard lk(mu_);
  passed_[{package, artifact, test_case}] = key;
}

void ResultCache::forget(const std::string& package, const std::string& artifact, const std::string& test_case) {
  std::lock_guard lk(mu_);
  passed_.erase({package, artifact, test_case});
}

void ResultCache::retain(const std::function<bool(const std::string&, const std::string&, const std::string&)>& known) {
  std::lock_guard lk(mu_);
  std::erase_if(passed_, [&](const auto& e) {
    const auto& [package, artifact, test_case] = e.first;
    return !known(package, artifact, test_case);
  });
}

size_t ResultCache::size() const {
  std::lock_guard lk(mu_);
  return passed_.size();
}

void ResultCache::save(const fs::path& file) const {
  nlohmann::json passed = nlohmann::json::object();
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, key] : passed_) {
      const auto& [package, artifact, test_case] = id;
      passed[package][artifact][test_case] = key;
    }
  }
  nlohmann::json j = {{"version", kVersion}, {"tool", tool_}, {"passed", passed}};
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  write_file_atomically(file, j.dump(1) + "\n");
}

}  // namespace mael
