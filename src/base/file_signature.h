#pragma once
// What tells whether a file or directory changed since it was last looked at, for caches keyed
// by files (cargo metadata's answer, a test binary's list of tests).
#include <cstdint>
#include <filesystem>
#include <string>

namespace mael {

// "-" for a missing path; else device, inode, size, mtime and ctime (ns), which change when the
// file is written, replaced or renamed over, or (a directory) gains or loses an entry. Sets
// *changed_ns, when given, to the later of mtime and ctime (untouched for a missing path).
std::string file_signature(const std::filesystem::path& path, int64_t* changed_ns = nullptr);

// The wall clock in ns, comparable with file times.
int64_t wall_clock_ns();

// File times advance in ticks, so a file can change twice with one signature. A cache entry
// made less than this after one of its files changed is not trusted.
constexpr int64_t kRacyFileChangeNs = 2'000'000'000;

}  // namespace mael
