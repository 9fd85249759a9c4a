#pragma once
// A minimal ELF reader (ELF32/ELF64, either byte order): just what resolving shared-library
// dependencies (layers) and naming a missing loader (container) need. Reads only headers and the
// dynamic section, so 100 MB binaries cost a few small reads.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mael {

struct ElfInfo {
  bool is64 = false;
  bool little_endian = true;
  uint16_t machine = 0;                    // e_machine
  std::optional<std::string> interpreter;  // PT_INTERP
  std::vector<std::string> needed;         // DT_NEEDED, in order
  std::optional<std::string> soname;       // DT_SONAME
  std::optional<std::string> rpath;        // DT_RPATH (':'-separated)
  std::optional<std::string> runpath;      // DT_RUNPATH (':'-separated)
};

// nullopt when the file is not ELF; throws std::runtime_error when it is
// malformed, std::system_error when it cannot be read.
std::optional<ElfInfo> read_elf(const std::filesystem::path& path);

}  // namespace mael
