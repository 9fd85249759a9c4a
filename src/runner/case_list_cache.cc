#include "runner/case_list_cache.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"

namespace mael {
namespace fs = std::filesystem;

CaseListCache::CaseListCache(fs::path file, int64_t racy_ns) : file_(std::move(file)), racy_ns_(racy_ns) {
  std::ifstream in(file_);
  if (!in) return;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1) return;
  auto binaries = j.find("binaries");
  if (binaries == j.end() || !binaries->is_object()) return;
  try {
    for (const auto& [path, e] : binaries->items()) {
      Entry entry;
      entry.signature = e.at("signature").get<std::string>();
      entry.written_ns = e.at("written_ns").get<int64_t>();
      entry.cases.cases = e.at("cases").get<std::vector<std::string>>();
      entry.cases.ignored = e.at("ignored").get<std::vector<std::string>>();
      entries_.emplace(path, std::move(entry));
    }
  } catch (const nlohmann::json::exception&) {
    entries_.clear();
  }
}

std::optional<ListedCases> CaseListCache::find(const fs::path& binary) const {
  Entry entry;
  {
    std::lock_guard lk(mu_);
    auto it = entries_.find(binary.string());
    if (it == entries_.end()) return std::nullopt;
    entry = it->second;
  }
  int64_t changed = 0;
  if (file_signature(binary, &changed) != entry.signature || changed > entry.written_ns - racy_ns_)
    return std::nullopt;
  return entry.cases;
}

void CaseListCache::put(const fs::path& binary, const ListedCases& cases) {
  int64_t changed = 0;
  Entry entry{file_signature(binary, &changed), wall_clock_ns(), cases};
  if (entry.signature == "-") return;
  std::lock_guard lk(mu_);
  entries_[binary.string()] = std::move(entry);
}

void CaseListCache::save() const {
  try {
    nlohmann::json binaries = nlohmann::json::object();
    {
      std::lock_guard lk(mu_);
      for (const auto& [path, e] : entries_) {
        int64_t changed = 0;
        if (file_signature(path, &changed) != e.signature) continue;  // rebuilt or gone
        binaries[path] = {{"signature", e.signature},
                          {"written_ns", e.written_ns},
                          {"cases", e.cases.cases},
                          {"ignored", e.cases.ignored}};
      }
    }
    nlohmann::json j = {{"version", 1}, {"binaries", binaries}};
    fs::create_directories(file_.parent_path());
    write_file_atomically(file_, j.dump());
  } catch (const std::exception&) {
    // The next run lists the binaries again.
  }
}

}  // namespace mael
