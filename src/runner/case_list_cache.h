#pragma once
// The tests each test binary listed, kept between runs: listing means running the binary
// (twice for Rust: all tests, then the ignored ones), ~3 ms each before any job can start,
// though the binary rarely changed since the last run. An entry is used while the binary's
// file signature is unchanged and was old enough when the entry was made (file_signature.h).
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/file_signature.h"

namespace mael {

struct ListedCases {
  std::vector<std::string> cases;    // every test
  std::vector<std::string> ignored;  // those the binary marks ignored
  bool operator==(const ListedCases&) const = default;
};

class CaseListCache {
 public:
  // Loads `file` (a missing or damaged file is an empty cache).
  explicit CaseListCache(std::filesystem::path file, int64_t racy_ns = kRacyFileChangeNs);

  // Thread-safe.
  std::optional<ListedCases> find(const std::filesystem::path& binary) const;
  void put(const std::filesystem::path& binary, const ListedCases& cases);

  // Writes the entries whose binaries are still there unchanged; errors are ignored (the
  // cache only saves time).
  void save() const;

 private:
  struct Entry {
    std::string signature;
    int64_t written_ns = 0;
    ListedCases cases;
  };
  std::filesystem::path file_;
  int64_t racy_ns_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mael
