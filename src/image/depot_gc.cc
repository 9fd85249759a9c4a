#include "image/depot_gc.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "image/blob_store.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Blob {
  uint64_t size = 0;
  fs::file_time_type mtime;
  int refs = 0;
};

struct Record {
  std::string name;  // file stem
  fs::path path;
  fs::file_time_type mtime;
  std::set<std::string> blobs;         // hex
  std::unique_ptr<FileLock> unpinned;  // held while we decide; null when pinned
};

std::string strip_sha(const std::string& s) {
  return s.starts_with("sha256:") ? s.substr(7) : s;
}

// The blobs a record names; an unreadable record names none (it goes first).
std::set<std::string> record_blobs(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  std::set<std::string> out;
  if (!j.is_object()) return out;
  for (const char* key : {"blobs", "layers"}) {
    if (j.contains(key) && j[key].is_array()) {
      for (const json& b : j[key]) {
        if (b.is_string()) out.insert(strip_sha(b.get<std::string>()));
      }
    }
  }
  if (j.contains("manifest") && j["manifest"].is_string()) out.insert(strip_sha(j["manifest"]));
  return out;
}

}  // namespace

uint64_t depot_blob_bytes(const fs::path& root) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(root / "blobs" / "sha256", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    uint64_t n = it->file_size(size_ec);
    if (!size_ec) total += n;
  }
  return total;
}

EvictionReport evict_to_limit(const fs::path& root, uint64_t limit) {
  EvictionReport report;
  fs::path blob_dir = root / "blobs" / "sha256";
  std::map<std::string, Blob> blobs;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(blob_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    uint64_t n = it->file_size(e2);
    if (e2) continue;
    total += n;
    std::string name = it->path().filename().string();
    if (name.ends_with(".partial")) {
      // No download runs while we hold the depot lock: this one was interrupted.
      if (fs::remove(it->path(), e2)) total -= n;
      continue;
    }
    blobs[name] = Blob{n, it->last_write_time(e2), 0};
  }
  report.bytes_before = total;
  auto done = [&] {
    report.bytes_after = total;
    return report;
  };
  if (total <= limit) return done();

  std::vector<Record> records;
  fs::create_directories(root / "pins");
  for (fs::directory_iterator it(root / "images", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".json") continue;  // skips half-written *.tmp* files
    Record r;
    r.name = it->path().stem().string();
    r.path = it->path();
    std::error_code e2;
    r.mtime = it->last_write_time(e2);
    r.blobs = record_blobs(r.path);
    r.unpinned = FileLock::try_exclusive(root / "pins" / r.name);
    for (const auto& b : r.blobs) {
      if (auto f = blobs.find(b); f != blobs.end()) ++f->second.refs;
    }
    records.push_back(std::move(r));
  }
  auto remove_blob = [&](const std::string& hex) {
    std::error_code e2;
    auto f = blobs.find(hex);
    if (f == blobs.end()) return;
    if (fs::remove(blob_dir / hex, e2)) total -= f->second.size;
    blobs.erase(f);
  };

  // 1. Blobs no image needs (left by failed pulls, resolved tags of evicted images).
  std::vector<std::pair<fs::file_time_type, std::string>> orphans;
  for (const auto& [hex, b] : blobs) {
    if (b.refs == 0) orphans.emplace_back(b.mtime, hex);
  }
  std::sort(orphans.begin(), orphans.end());
  for (const auto& [t, hex] : orphans) {
    if (total <= limit) return done();
    remove_blob(hex);
  }

  // 2. Images nobody uses, least recently used first.
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.mtime < b.mtime; });
  for (Record& r : records) {
    if (total <= limit) break;
    if (!r.unpinned) continue;
    std::error_code e2;
    fs::remove(r.path, e2);
    fs::remove(root / "pins" / r.name, e2);  // safe: nobody can open it while we hold the depot lock
    report.evicted.push_back(r.name);
    for (const auto& hex : r.blobs) {
      auto f = blobs.find(hex);
      if (f != blobs.end() && --f->second.refs == 0) remove_blob(hex);
    }
  }
  return done();
}

}  // namespace mael
