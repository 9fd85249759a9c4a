#pragma once
// Reader for glibc's /etc/ld.so.cache ("glibc-ld.so.cache1.1" format, also when
// preceded by the old "ld.so-1.7.0" table), used to resolve DT_NEEDED names
// the way the dynamic loader does.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mael {

struct LdCacheEntry {
  std::string name;  // e.g. "libc.so.6"
  std::string path;  // e.g. "/lib/x86_64-linux-gnu/libc.so.6"
  int32_t flags = 0;
  uint64_t hwcap = 0;  // non-zero for glibc-hwcaps subdirectory variants
};

// Entries in file order (the loader's preference order). A missing file gives
// no entries; a malformed one throws std::runtime_error.
std::vector<LdCacheEntry> read_ld_so_cache(const std::filesystem::path& path);

}  // namespace mael
