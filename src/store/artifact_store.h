#pragma once
// The local content-addressed artifact cache. An artifact is a tar blob named by
// the SHA-256 of its bytes (what the cluster ships); its extracted tree is what
// the container runtime stacks with overlayfs. Layout under root (root and its
// directories 0700: cached layers can hold secrets):
//   lock            flock held for the object's lifetime (one process per cache)
//   owner           "UID:GID" the trees' files belong to; trees made for another
//                   owner (or before this file existed) are dropped on open
//   blobs/HEX       the blob (mode 0444); its mtime is its last use
//   trees/HEX/root  the extracted tree; trees/HEX/size its disk usage; the mtime
//                   of trees/HEX is its last use
//   memo/SHA(key)   the blob digest a layer-spec key last built to
//   tmp/            work in progress; emptied on open (crash leftovers)
// Everything appears by rename, so a crash leaves only tmp/ to clean. Size is
// bounded: least recently used unpinned blobs and trees are evicted. A blob is
// hostile input (a user's tar, a cluster peer's upload): its extraction is
// bounded (layer_budget.h) and confined (tar_extract.h), and an entry the store
// cannot remove is logged and left, never a reason to refuse to open.
// Thread-safe.
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/digest.h"
#include "store/fs_util.h"
#include "store/layer_budget.h"

namespace mael {

struct ArtifactStoreOptions {
  // Who the files of extracted trees belong to: nullopt, the caller (as an unprivileged user,
  // whose jobs see them as their own); set, every entry is lchown'd to it (the tools run as
  // root, jobs as this unprivileged id). Changing it drops the cache's trees (not its blobs).
  std::optional<FileOwner> owner;
  // Bound on one layer's expanded size; 0: the cache's size limit. The smaller of the two
  // applies.
  uint64_t max_layer_bytes = 0;
  uint64_t max_layer_entries = LayerLimits::kDefaultMaxEntries;
  // When another process holds the cache: false, fail at once; true, call on_lock_wait (once)
  // and wait until it is free.
  bool wait_for_lock = false;
  std::function<void(const std::filesystem::path& root)> on_lock_wait;
};

class ArtifactStore {
 public:
  static constexpr uint64_t kDefaultSizeLimit = uint64_t{1} << 30;

  // Opens/creates the cache at root. Throws UserError("cache directory ROOT is in
  // use by another process; ...") when another process holds it (and
  // !options.wait_for_lock).
  explicit ArtifactStore(std::filesystem::path root, uint64_t size_limit_bytes = kDefaultSizeLimit,
                         ArtifactStoreOptions options = {});
  ~ArtifactStore();
  ArtifactStore(const ArtifactStore&) = delete;
  ArtifactStore& operator=(const ArtifactStore&) = delete;

  const std::filesystem::path& root() const { return root_; }

  bool has_blob(const Digest&) const;
  bool has_tree(const Digest&) const;
  std::optional<uint64_t> blob_size(const Digest&) const;
  // Path of a present blob (marks it used). It may be evicted later: prefer
  // open_blob when reading it takes a while.
  std::optional<std::filesystem::path> blob_path(const Digest&);
  // An open read-only fd of a present blob (marks it used); stays readable even
  // if the blob is evicted meanwhile.
  std::optional<UniqueFd> open_blob(const Digest&);
  // Blob pins (counted): a pinned blob is never evicted. pin_blob pins a present
  // blob and returns true, or returns false when the blob is absent; every true
  // needs one unpin_blob. Pinned blobs may hold the cache above its bound.
  bool pin_blob(const Digest&);
  void unpin_blob(const Digest&);

  // Pins on a set of blobs (a job's layers), released together, under one lock,
  // when this object goes or release() is called (movable).
  class PinnedBlobs {
   public:
    PinnedBlobs() = default;
    PinnedBlobs(PinnedBlobs&& o) noexcept;
    PinnedBlobs& operator=(PinnedBlobs&& o) noexcept;
    ~PinnedBlobs() { release(); }
    size_t size() const { return digests_.size(); }
    // Pins one more blob if it is present (false: absent, nothing pinned).
    bool add(const Digest&);
    void release();

   private:
    friend class ArtifactStore;
    ArtifactStore* store_ = nullptr;
    std::vector<Digest> digests_;
  };
  // Pins every digest (each must be present: throws std::runtime_error naming
  // the first that is not, pinning none); with none, an empty set to add() to.
  // Take an EvictionHold from before the blobs are added until this returns, or
  // a small cache may evict one between.
  PinnedBlobs pin_blobs(const std::vector<Digest>&);

  // While an EvictionHold lives nothing is evicted (the cache may grow above its
  // bound); the last one to go evicts what is over.
  class EvictionHold {
   public:
    EvictionHold(EvictionHold&& o) noexcept : store_(std::exchange(o.store_, nullptr)) {}
    EvictionHold& operator=(EvictionHold&&) = delete;
    ~EvictionHold();

   private:
    friend class ArtifactStore;
    explicit EvictionHold(ArtifactStore* s) : store_(s) {}
    ArtifactStore* store_;
  };
  EvictionHold hold_eviction();

  // Hashes and copies src into the store (a reflink when the file system can).
  // Throws UserError when src does not exist.
  Digest add_blob_file(const std::filesystem::path& src);
  Digest add_blob_bytes(std::string_view bytes);

  // Streaming insert with verification. commit() throws UserError("artifact
  // digest mismatch: expected X, got Y") and leaves nothing behind on mismatch;
  // destroying an uncommitted writer discards what was written.
  class BlobWriter {
   public:
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) = delete;
    ~BlobWriter();
    void write(std::string_view data);
    void write(const void* data, size_t n) { write(std::string_view(static_cast<const char*>(data), n)); }
    uint64_t size() const { return size_; }
    // The temporary file being written (e.g. to inspect it before commit()).
    const std::filesystem::path& temp_path() const { return tmp_; }
    Digest commit();

   private:
    friend class ArtifactStore;
    BlobWriter(ArtifactStore* store, std::filesystem::path tmp, UniqueFd fd, std::optional<Digest> expected);
    ArtifactStore* store_;
    std::filesystem::path tmp_;
    UniqueFd fd_;
    std::optional<Digest> expected_;
    std::unique_ptr<Sha256> hash_;
    uint64_t size_ = 0;
    bool done_ = false;
  };
  BlobWriter begin_blob(std::optional<Digest> expected = std::nullopt);

  // A pinned extracted tree: never evicted while a TreeRef to it lives.
  class TreeRef {
   public:
    TreeRef(TreeRef&& o) noexcept;
    TreeRef& operator=(TreeRef&& o) noexcept;
    ~TreeRef();
    const std::filesystem::path& path() const { return path_; }
    const Digest& digest() const { return digest_; }

   private:
    friend class ArtifactStore;
    TreeRef(ArtifactStore* store, Digest digest, std::filesystem::path path)
        : store_(store), digest_(digest), path_(std::move(path)) {}
    ArtifactStore* store_;
    Digest digest_;
    std::filesystem::path path_;
  };
  // The extracted tree of a blob, extracting it on first use (concurrent callers
  // for one digest wait for a single extraction). Throws std::runtime_error when
  // neither the tree nor the blob is present, UserError when the blob is not a
  // valid tar or is over the layer limits (layer_limits()), naming the layer by
  // its label when it has one, and leaving nothing of the extraction behind.
  TreeRef tree(const Digest&);

  // Names a blob in messages about it (its extraction's errors): "tar layer
  // images/x.tar", "glob layer 'src/**'". Kept in memory for this object's life;
  // the last name given wins.
  void set_label(const Digest&, std::string label);
  // "LABEL (sha256:HEX)" when labelled, else "layer sha256:HEX".
  std::string describe(const Digest&) const;

  // The bound each layer's extraction gets.
  LayerLimits layer_limits() const;
  // What the byte bound is and how to raise it, for errors ("the cache size; ...").
  std::string layer_bytes_hint() const;
  const std::optional<FileOwner>& owner() const { return options_.owner; }

  // Memo of layer-spec key -> blob digest, persisted. lookup_memo answers only
  // when the blob is still present (and marks it used).
  std::optional<Digest> lookup_memo(const std::string& key);
  void record_memo(const std::string& key, const Digest&);

  uint64_t size_bytes() const;  // blobs + trees
  uint64_t size_limit() const { return size_limit_; }
  // How many extractions this object performed (for tests and statistics).
  uint64_t extraction_count() const;

 private:
  struct Entry {
    uint64_t size = 0;
    int64_t last_used_ns = 0;
  };
  struct Extraction {
    bool done = false;
    std::exception_ptr error;
  };

  std::filesystem::path blob_file(const Digest& d) const;
  std::filesystem::path tree_dir(const Digest& d) const;
  std::filesystem::path new_temp(const char* kind);
  void lock(const ArtifactStoreOptions& options);
  // Drops every tree when the cache's recorded owner is not ours; records ours.
  void check_owner();
  // remove_tree, logging (one line) what it could not remove instead of throwing.
  static void remove_logged(const std::filesystem::path& p);
  void load_index();
  int64_t next_stamp();                                // under mu_
  void touch(Entry& e, const std::filesystem::path&);  // under mu_
  Digest install_blob(const std::filesystem::path& tmp, const Digest& d, uint64_t size);
  void unpin(const Digest& d);
  std::string describe_locked(const Digest& d) const;  // under mu_
  // Evicts LRU unpinned entries (never `keep`'s) until under the bound. Called
  // with mu_ held through lk; deletes trees after releasing it.
  void evict(std::unique_lock<std::mutex>& lk, const Digest* keep);
  // evict() after a pin or hold went, where a failure is only logged (it is retried at the
  // next eviction).
  void evict_after_release(std::unique_lock<std::mutex>& lk);

  std::filesystem::path root_;
  uint64_t size_limit_;
  ArtifactStoreOptions options_;
  UniqueFd lock_fd_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Digest, Entry> blobs_;
  std::unordered_map<Digest, Entry> trees_;
  std::unordered_map<Digest, int> pins_;       // trees
  std::unordered_map<Digest, int> blob_pins_;  // blobs
  std::unordered_map<Digest, std::shared_ptr<Extraction>> extracting_;
  std::unordered_map<Digest, std::string> labels_;
  int eviction_holds_ = 0;
  uint64_t total_ = 0;
  int64_t last_stamp_ = 0;
  uint64_t temp_counter_ = 0;
  uint64_t extractions_ = 0;
};

}  // namespace mael
