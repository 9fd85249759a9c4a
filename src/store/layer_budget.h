#pragma once
// The bound on what one layer may expand to: its entries and the bytes they take. A tar is a
// few kilobytes that can say "a file of 6 GiB" or "a million empty files"; the bound refuses it
// while it is read, before the disk fills. What is counted cannot be made smaller by tricks:
// every entry (directories made implicitly for a deep name too) costs one 4 KiB block, and a file
// costs its whole logical size rounded up to blocks, holes of sparse files included, whether or
// not it is a hard link's target already counted.
#include <cstdint>
#include <string>

namespace mael {

struct LayerLimits {
  static constexpr uint64_t kDefaultMaxEntries = 1'000'000;
  uint64_t max_bytes = UINT64_MAX;
  uint64_t max_entries = kDefaultMaxEntries;
};

class LayerBudget {
 public:
  static constexpr uint64_t kBlock = 4096;

  // `name` (the layer's file or spec) and `bytes_hint` (what the byte bound is, and the way
  // to raise it: "the cache size; raise --cache-size") appear in the errors.
  LayerBudget(LayerLimits limits, std::string name, std::string bytes_hint);

  // One more entry. Throws UserError once there are more than max_entries, or the bytes bound
  // is passed.
  void add_entry();
  // `n` more bytes of file content (rounded up to whole blocks by the caller's totals: see
  // add_file_size). Throws UserError once the bound is passed.
  void add_bytes(uint64_t n);
  // A file whose logical size is `size`: its blocks.
  void add_file_size(uint64_t size) { add_bytes(round_up(size)); }

  uint64_t bytes() const { return bytes_; }
  uint64_t entries() const { return entries_; }
  static uint64_t round_up(uint64_t n) { return n / kBlock * kBlock + (n % kBlock ? kBlock : 0); }

 private:
  LayerLimits limits_;
  std::string name_;
  std::string bytes_hint_;
  uint64_t bytes_ = 0;
  uint64_t entries_ = 0;
};

// A size for messages, in --cache-size's units when whole in one: "20 MB", "1 GB", "4096 bytes".
std::string size_text(uint64_t bytes);

}  // namespace mael
