#include "base/elf_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "base/error.h"
#include "base/unique_fd.h"

namespace mael {

namespace {

constexpr uint32_t kPtLoad = 1, kPtDynamic = 2, kPtInterp = 3;
constexpr uint64_t kDtNull = 0, kDtNeeded = 1, kDtStrtab = 5, kDtStrsz = 10, kDtSoname = 14, kDtRpath = 15,
                   kDtRunpath = 29;

class Reader {
 public:
  Reader(const std::filesystem::path& path, int fd) : path_(path), fd_(fd) {}

  std::string bytes(uint64_t off, uint64_t n) const {
    if (n > (64u << 20)) bad("section too large");
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = pread(fd_, out.data() + got, n - got, static_cast<off_t>(off + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_errno("read " + path_.string());
      }
      if (r == 0) bad("truncated");
      got += static_cast<size_t>(r);
    }
    return out;
  }

  // An unsigned little/big-endian integer of `size` bytes at buf[off].
  uint64_t uint(const std::string& buf, size_t off, size_t size) const {
    if (off + size > buf.size()) bad("truncated header");
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) {
      uint8_t b = static_cast<uint8_t>(buf[off + (little_ ? size - 1 - i : i)]);
      v = v << 8 | b;
    }
    return v;
  }

  [[noreturn]] void bad(const char* why) const {
    throw std::runtime_error("malformed ELF file " + path_.string() + ": " + why);
  }

  void set_little(bool l) { little_ = l; }

 private:
  const std::filesystem::path& path_;
  int fd_;
  bool little_ = true;
};

struct Segment {
  uint32_t type;
  uint64_t offset, vaddr, filesz;
};

}  // namespace

std::optional<ElfInfo> read_elf(const std::filesystem::path& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("open " + path.string());
  Reader r(path, fd.get());
  std::string ident(16, '\0');
  if (pread(fd.get(), ident.data(), 16, 0) != 16 || ident.compare(0, 4,
                                                                  "\x7f"
                                                                  "ELF") != 0)
    return std::nullopt;
  ElfInfo info;
  if (ident[4] != 1 && ident[4] != 2) r.bad("unknown class");
  if (ident[5] != 1 && ident[5] != 2) r.bad("unknown byte order");
  info.is64 = ident[4] == 2;
  info.little_endian = ident[5] == 1;
  r.set_little(info.little_endian);
  const size_t w = info.is64 ? 8 : 4;  // address size
  std::string eh = r.bytes(0, info.is64 ? 64 : 52);
  info.machine = static_cast<uint16_t>(r.uint(eh, 18, 2));
  uint64_t phoff = r.uint(eh, info.is64 ? 32 : 28, w);
  uint64_t phentsize = r.uint(eh, info.is64 ? 54 : 42, 2);
  uint64_t phnum = r.uint(eh, info.is64 ? 56 : 44, 2);
  if (phnum == 0) return info;
  if (phentsize < (info.is64 ? 56u : 32u) || phnum > 4096) r.bad("bad program headers");
  std::string ph = r.bytes(phoff, phentsize * phnum);

  std::vector<Segment> segs;
  for (uint64_t i = 0; i < phnum; ++i) {
    size_t o = i * phentsize;
    Segment s;
    s.type = static_cast<uint32_t>(r.uint(ph, o, 4));
    if (info.is64) {
      s.offset = r.uint(ph, o + 8, 8);
      s.vaddr = r.uint(ph, o + 16, 8);
      s.filesz = r.uint(ph, o + 32, 8);
    } else {
      s.offset = r.uint(ph, o + 4, 4);
      s.vaddr = r.uint(ph, o + 8, 4);
      s.filesz = r.uint(ph, o + 16, 4);
    }
    segs.push_back(s);
  }
  auto vaddr_to_offset = [&](uint64_t vaddr) -> uint64_t {
    for (const auto& s : segs)
      if (s.type == kPtLoad && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz)
        return vaddr - s.vaddr + s.offset;
    r.bad("address outside loaded segments");
  };

  for (const auto& s : segs) {
    if (s.type == kPtInterp) {
      std::string interp = r.bytes(s.offset, s.filesz);
      info.interpreter = interp.substr(0, interp.find('\0'));
    }
  }
  for (const auto& s : segs) {
    if (s.type != kPtDynamic) continue;
    std::string dyn = r.bytes(s.offset, s.filesz);
    std::vector<std::pair<uint64_t, uint64_t>> tags;
    uint64_t strtab = 0, strsz = 0;
    for (size_t o = 0; o + 2 * w <= dyn.size(); o += 2 * w) {
      uint64_t tag = r.uint(dyn, o, w), val = r.uint(dyn, o + w, w);
      if (tag == kDtNull) break;
      if (tag == kDtStrtab) strtab = val;
      if (tag == kDtStrsz) strsz = val;
      tags.emplace_back(tag, val);
    }
    if (strtab == 0) break;
    std::string strings = r.bytes(vaddr_to_offset(strtab), strsz);
    auto str = [&](uint64_t off) {
      if (off >= strings.size()) r.bad("string outside the string table");
      return std::string(strings.c_str() + off);
    };
    for (const auto& [tag, val] : tags) {
      if (tag == kDtNeeded) info.needed.push_back(str(val));
      if (tag == kDtSoname) info.soname = str(val);
      if (tag == kDtRpath) info.rpath = str(val);
      if (tag == kDtRunpath) info.runpath = str(val);
    }
    break;
  }
  return info;
}

}  // namespace mael
