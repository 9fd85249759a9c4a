#pragma once
// Finds the shared libraries ELF binaries need, searching like glibc's ld.so:
// DT_RPATH of the object and its loaders (when it has no DT_RUNPATH),
// LD_LIBRARY_PATH, DT_RUNPATH, /etc/ld.so.cache, then the default directories
// (multiarch, lib64, lib), with $ORIGIN expanded; libraries of another ELF class
// or machine are passed over. The closure includes the program interpreter.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "layers/ld_so_cache.h"

namespace mael {

struct LibrarySearchOptions {
  std::string ld_library_path;  // ':'-separated, as in the environment
  std::filesystem::path ld_so_cache = "/etc/ld.so.cache";
  // Replaces the default directories (empty: the loader's defaults for the machine).
  std::vector<std::string> default_dirs;
};

class SharedLibraryResolver {
 public:
  explicit SharedLibraryResolver(LibrarySearchOptions options);
  // Paths (as the loader would open them) of every library, interpreter
  // included, the binaries need, sorted and unique; not the binaries
  // themselves. Throws UserError for a missing binary, a non-ELF file or a
  // library that cannot be found.
  std::vector<std::filesystem::path> resolve(const std::vector<std::filesystem::path>& binaries) const;

 private:
  std::vector<std::filesystem::path> resolve_one(const std::filesystem::path& binary) const;
  LibrarySearchOptions options_;
  std::vector<LdCacheEntry> cache_;
};

}  // namespace mael
