#pragma once
// The image depot's size bound: least-recently-used images that no process
// is using are evicted, with the blobs only they need.
//
// Depot files involved (see image_depot.h for the whole layout):
//   images/REC.json   an image's record; "blobs" lists every blob it needs;
//                     its mtime is the image's last use
//   pins/REC          flock(LOCK_SH)ed by every process (ImageDepot) using
//                     the image, for as long as it may need its blobs
//   locks/depot.lock  LOCK_SH while pulling or importing, LOCK_EX (never
//                     waited for) while evicting, so that eviction never sees
//                     a half-pulled image's blobs as unreferenced
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mael {

// Bytes in blobs/sha256 (complete and partial blobs).
uint64_t depot_blob_bytes(const std::filesystem::path& root);

struct EvictionReport {
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  std::vector<std::string> evicted;  // record names (REC), oldest first
};

// Brings the blobs under `limit` bytes: drops partial downloads, then blobs no
// record needs (oldest first), then unpinned images from the least recently
// used on. Pinned images and their blobs stay even beyond the limit. The
// caller holds locks/depot.lock exclusively.
EvictionReport evict_to_limit(const std::filesystem::path& root, uint64_t limit);

}  // namespace mael
