#include "layers/ld_so_cache.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace mael {

namespace {

constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr size_t kNewHeaderSize = 48;  // magic+version(20) nlibs len_strings flags pad(3) ext_off unused[3]
constexpr size_t kNewEntrySize = 24;   // flags key value osversion hwcap(u64)
constexpr size_t kOldHeaderSize = 16;  // magic(11) pad nlibs
constexpr size_t kOldEntrySize = 12;   // flags key value

template <typename T>
T load(const std::string& data, size_t off) {
  if (off + sizeof(T) > data.size()) throw std::runtime_error("ld.so.cache: truncated");
  T v;
  std::memcpy(&v, data.data() + off, sizeof v);
  return v;
}

std::string cstr(const std::string& data, size_t off) {
  if (off >= data.size()) throw std::runtime_error("ld.so.cache: string out of range");
  size_t end = data.find('\0', off);
  if (end == std::string::npos) throw std::runtime_error("ld.so.cache: unterminated string");
  return data.substr(off, end - off);
}

}  // namespace

std::vector<LdCacheEntry> read_ld_so_cache(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t base = 0;
  if (data.compare(0, kOldMagic.size(), kOldMagic) == 0) {
    // The old table comes first; the new format follows, 8-byte aligned.
    uint32_t nold = load<uint32_t>(data, 12);
    base = kOldHeaderSize + static_cast<size_t>(nold) * kOldEntrySize;
    base = (base + 7) & ~size_t{7};
  }
  if (data.compare(base, kNewMagic.size(), kNewMagic) != 0) {
    if (base != 0) return {};  // old format only: nothing we use
    throw std::runtime_error("ld.so.cache " + path.string() + ": unknown format");
  }
  uint32_t nlibs = load<uint32_t>(data, base + 20);
  std::vector<LdCacheEntry> out;
  out.reserve(nlibs);
  for (uint32_t i = 0; i < nlibs; ++i) {
    size_t e = base + kNewHeaderSize + static_cast<size_t>(i) * kNewEntrySize;
    LdCacheEntry entry;
    entry.flags = load<int32_t>(data, e);
    // String offsets are relative to the start of the new-format header.
    entry.name = cstr(data, base + load<uint32_t>(data, e + 4));
    entry.path = cstr(data, base + load<uint32_t>(data, e + 8));
    entry.hwcap = load<uint64_t>(data, e + 16);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace mael
