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
  std::map<Id, Entry> entries;
  auto damaged = [&](const std::string& why) -> std::optional<std::string> {
    std::lock_guard lk(mu_);
    entries_.clear();
    return "warning: ignoring the cached results in " + file.string() + " (" + why +
           "): every test runs; the file is rewritten at the end of the run";
  };
  std::ifstream in(file);
  if (!in) {
    std::lock_guard lk(mu_);
    entries_.clear();
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
    entries_.clear();
    return std::nullopt;
  }
  // Calls `add` for each case of a {PACKAGE: {ARTIFACT: {CASE: VALUE}}} table; the reason it is
  // damaged, if it is.
  auto each_case = [](const nlohmann::json& table, const std::function<std::optional<std::string>(
                                                       const Id&, const nlohmann::json&)>& add) -> std::optional<std::string> {
    for (const auto& [package, artifacts] : table.items()) {
      if (!artifacts.is_object()) return "package " + package + " is not a table";
      for (const auto& [artifact, cases] : artifacts.items()) {
        if (!cases.is_object()) return "artifact " + artifact + " is not a table";
        for (const auto& [name, value] : cases.items())
          if (auto why = add({package, artifact, name}, value)) return why;
      }
    }
    return std::nullopt;
  };
  auto passed = j.find("passed");
  if (passed == j.end() || !passed->is_object()) return damaged("no `passed` table");
  auto bad = each_case(*passed, [&](const Id& id, const nlohmann::json& key) -> std::optional<std::string> {
    if (!key.is_string()) return "the key of " + std::get<2>(id) + " is not a string";
    entries[id] = {key.get<std::string>(), std::nullopt};
    return std::nullopt;
  });
  if (bad) return damaged(*bad);
  if (auto skipped = j.find("skipped"); skipped != j.end()) {
    if (!skipped->is_object()) return damaged("`skipped` is not a table");
    bad = each_case(*skipped, [&](const Id& id, const nlohmann::json& v) -> std::optional<std::string> {
      if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string())
        return "the entry of skipped " + std::get<2>(id) + " is not [key, reason]";
      entries[id] = {v[0].get<std::string>(), v[1].get<std::string>()};
      return std::nullopt;
    });
    if (bad) return damaged(*bad);
  }
  std::lock_guard lk(mu_);
  entries_ = std::move(entries);
  return std::nullopt;
}

std::optional<CachedOutcome> ResultCache::lookup(const std::string& package, const std::string& artifact,
                                                 const std::string& test_case, const std::string& key) const {
  std::lock_guard lk(mu_);
  auto it = entries_.find({package, artifact, test_case});
  if (it == entries_.end() || it->second.key != key) return std::nullopt;
  if (!it->second.skipped) return CachedOutcome{};
  return CachedOutcome{true, *it->second.skipped};
}

void ResultCache::record_pass(const std::string& package, const std::string& artifact,
                              const std::string& test_case, const std::string& key) {
  std::lock_guard lk(mu_);
  entries_[{package, artifact, test_case}] = {key, std::nullopt};
}

void ResultCache::record_skip(const std::string& package, const std::string& artifact, const std::string& test_case,
                              const std::string& key, const std::string& reason) {
  std::lock_guard lk(mu_);
  entries_[{package, artifact, test_case}] = {key, reason};
}

void ResultCache::forget(const std::string& package, const std::string& artifact, const std::string& test_case) {
  std::lock_guard lk(mu_);
  entries_.erase({package, artifact, test_case});
}

void ResultCache::retain(const std::function<bool(const std::string&, const std::string&, const std::string&)>& known) {
  std::lock_guard lk(mu_);
  std::erase_if(entries_, [&](const auto& e) {
    const auto& [package, artifact, test_case] = e.first;
    return !known(package, artifact, test_case);
  });
}

size_t ResultCache::size() const {
  std::lock_guard lk(mu_);
  return entries_.size();
}

void ResultCache::save(const fs::path& file) const {
  nlohmann::json passed = nlohmann::json::object();
  nlohmann::json skipped = nlohmann::json::object();
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, e] : entries_) {
      const auto& [package, artifact, test_case] = id;
      if (e.skipped)
        skipped[package][artifact][test_case] = nlohmann::json::array({e.key, *e.skipped});
      else
        passed[package][artifact][test_case] = e.key;
    }
  }
  nlohmann::json j = {{"version", kVersion}, {"tool", tool_}, {"passed", passed}};
  if (!skipped.empty()) j["skipped"] = skipped;
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  write_file_atomically(file, j.dump(1) + "\n");
}

}  // namespace mael
