#pragma once
// The entries of a layer and their deterministic tar form: sorted by path,
// missing parent directories added (0755), owner 0:0 without names, mtimes in
// whole seconds. The same entries always give the same bytes, hence digest.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/digest.h"

namespace mael {

class ArtifactStore;

// The timestamp of entries we make up (stubs, symlinks, implied parents):
// 2024-01-11 19:11:11 UTC, as Maelstrom uses.
inline constexpr int64_t kSyntheticMtime = 1705000271;

struct LayerEntry {
  enum Kind { kFile, kDir, kSymlink } kind = kFile;
  std::string path;              // in the layer: relative, normalized, non-empty
  std::filesystem::path source;  // kFile: where the bytes are read (streamed)
  std::string target;            // kSymlink
  uint32_t mode = 0644;          // permission bits
  uint64_t size = 0;             // kFile
  int64_t mtime = kSyntheticMtime;
  // Identity of the source file, so a memo key changes when it is edited (ctime too: an
  // edit that keeps the size and puts the mtime back still moves it).
  uint64_t dev = 0, ino = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
};

// Sorts, drops duplicates (the later entry for a path wins) and adds parents.
std::vector<LayerEntry> normalize_entries(std::vector<LayerEntry> entries);
// A canonical text of (normalized) entries for memo keys.
std::string describe_entries(const std::vector<LayerEntry>& entries);
// Writes the tar of (normalized) entries into the store, streaming file data.
Digest write_layer_tar(const std::vector<LayerEntry>& entries, ArtifactStore& store);

}  // namespace mael
