#include "cargo/metadata_cache.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/atomic_file.h"
#include "base/digest.h"
#include "base/file_signature.h"

namespace mael {
namespace fs = std::filesystem;
namespace {

bool keyed_env(const std::string& var) {
  for (const char* prefix : {"CARGO", "RUSTUP", "RUSTC", "PATH="})
    if (var.rfind(prefix, 0) == 0) return true;
  return false;
}

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env)
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      return e.substr(name.size() + 1);
  return "";
}

}  // namespace

std::vector<fs::path> metadata_inputs(const CargoWorkspace& ws, const fs::path& cwd,
                                      const fs::path& cargo_home) {
  std::set<fs::path> paths;
  paths.insert(ws.workspace_root / "Cargo.toml");
  paths.insert(ws.workspace_root);
  for (const auto& p : ws.packages) {
    fs::path dir = p.manifest_path.parent_path();
    paths.insert(p.manifest_path);
    paths.insert(dir);
    // A `members = ["crates/*"]` glob sees new entries in the member's parent (below the
    // root only: the root package's parent is none of cargo's business, and /tmp-like busy).
    if (dir != ws.workspace_root && dir.parent_path().string().starts_with(ws.workspace_root.string()))
      paths.insert(dir.parent_path());
    // Where cargo discovers targets by itself: FILE.rs in these directories, and
    // NAME/main.rs in their subdirectories (a main.rs added to an existing one changes only it).
    paths.insert(dir / "src");
    for (const char* sub : {"src/bin", "tests", "examples", "benches"}) {
      paths.insert(dir / sub);
      std::error_code ec;
      for (fs::directory_iterator it(dir / sub, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_directory(ec)) paths.insert(it->path());
    }
  }
  // Cargo's configuration: every ancestor of the working directory, then CARGO_HOME.
  for (fs::path d = cwd;; d = d.parent_path()) {
    paths.insert(d / ".cargo" / "config.toml");
    paths.insert(d / ".cargo" / "config");
    if (d == d.parent_path()) break;
  }
  if (!cargo_home.empty()) {
    paths.insert(cargo_home / "config.toml");
    paths.insert(cargo_home / "config");
  }
  return {paths.begin(), paths.end()};
}

MetadataCache::MetadataCache(fs::path dir, const fs::path& cwd, const std::vector<std::string>& args,
                             const std::vector<std::string>& env, int64_t racy_ns)
    : dir_(std::move(dir)), cwd_(cwd), racy_ns_(racy_ns) {
  std::vector<std::string> keyed;
  for (const auto& e : env)
    if (keyed_env(e)) keyed.push_back(e);
  std::sort(keyed.begin(), keyed.end());
  std::string key = "cwd=" + cwd.string() + '\0';
  for (const auto& a : args) key += "arg=" + a + '\0';
  for (const auto& e : keyed) key += "env=" + e + '\0';
  key_ = key;
  cargo_home_ = env_value(env, "CARGO_HOME");
  if (cargo_home_.empty()) {
    std::string home = env_value(env, "HOME");
    if (!home.empty()) cargo_home_ = home + "/.cargo";
  }
  Sha256 h;
  h.update(key_);
  entry_ = dir_ / (h.finish().hex() + ".json");
}

std::optional<std::string> MetadataCache::lookup() const {
  std::ifstream in(entry_);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("key", "") != key_) return std::nullopt;
  int64_t written = j.value("written_ns", int64_t{0});
  const auto files = j.find("files");
  const auto metadata = j.find("metadata");
  if (files == j.end() || !files->is_object() || metadata == j.end() || !metadata->is_string())
    return std::nullopt;
  for (const auto& [path, sig] : files->items()) {
    int64_t changed = 0;
    if (!sig.is_string() || file_signature(path, &changed) != sig.get<std::string>()) return std::nullopt;
    if (changed > written - racy_ns_) return std::nullopt;
  }
  return metadata->get<std::string>();
}

void MetadataCache::store(const std::string& json, const CargoWorkspace& ws) const {
  try {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& p : metadata_inputs(ws, cwd_, cargo_home_)) {
      int64_t changed = 0;
      files[p.string()] = file_signature(p, &changed);
    }
    nlohmann::json j = {{"key", key_}, {"written_ns", wall_clock_ns()}, {"files", files}, {"metadata", json}};
    fs::create_directories(dir_);
    write_file_atomically(entry_, j.dump());
    // Keep the directory small: drop the least recently written entries (never this one).
    std::vector<std::pair<fs::file_time_type, fs::path>> others;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ".json" && e.path() != entry_)
        others.emplace_back(e.last_write_time(), e.path());
    if (others.size() >= kMaxEntries) {
      std::sort(others.begin(), others.end());
      for (size_t i = 0; i + kMaxEntries <= others.size(); ++i) fs::remove(others[i].second);
    }
  } catch (const std::exception&) {
    // A read-only or full cache directory only costs the next run a `cargo metadata`.
  }
}

}  // namespace mael
