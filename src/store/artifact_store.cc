#include "store/artifact_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "base/fd_io.h"
#include "base/log.h"
#include "store/tar_extract.h"

namespace fs = std::filesystem;

namespace mael {

namespace {

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::optional<Digest> parse_hex_name(const std::string& name) {
  if (name.size() != 64) return std::nullopt;
  try {
    return Digest::from_hex(name);
  } catch (const UserError&) {
    return std::nullopt;
  }
}

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One pin fewer on `d` (the last one: its count goes); false when `d` was not pinned.
bool drop_pin(std::unordered_map<Digest, int>& pins, const Digest& d) {
  auto it = pins.find(d);
  if (it == pins.end()) return false;
  if (--it->second == 0) pins.erase(it);
  return true;
}

}  // namespace

// ---- open / index ------------------------------------------------------------

ArtifactStore::ArtifactStore(fs::path root, uint64_t size_limit_bytes, ArtifactStoreOptions options)
    : root_(fs::absolute(std::move(root))), size_limit_(size_limit_bytes), options_(std::move(options)) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw UserError("cannot create cache directory " + root_.string() + ": " + ec.message());
  lock(options_);
  remove_logged(root_ / "tmp");  // leftovers of a crashed process
  // Nobody else may read or traverse the cache: cached layers can hold secrets, and when the
  // files belong to an unprivileged owner, its other processes must not reach them either.
  for (const fs::path& d : {root_, root_ / "blobs", root_ / "trees", root_ / "memo", root_ / "tmp"}) {
    fs::create_directories(d, ec);
    if (ec) throw UserError("cannot create cache directory " + d.string() + ": " + ec.message());
    if (chmod(d.c_str(), 0700) != 0)
      log::warn("cache: cannot make {} private (mode 0700): {}", d.string(), std::strerror(errno));
  }
  check_owner();
  load_index();
  std::unique_lock lk(mu_);
  evict(lk, nullptr);
}

void ArtifactStore::lock(const ArtifactStoreOptions& options) {
  lock_fd_.reset(open((root_ / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_fd_.valid()) throw_errno("open " + (root_ / "lock").string());
  if (flock(lock_fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
  if (errno != EWOULDBLOCK) throw_errno("flock " + (root_ / "lock").string());
  if (!options.wait_for_lock)
    throw UserError("cache directory " + root_.string() +
                    " is in use by another process; use --cache-root to pick another");
  if (options.on_lock_wait) options.on_lock_wait(root_);
  while (flock(lock_fd_.get(), LOCK_EX) != 0)
    if (errno != EINTR) throw_errno("flock " + (root_ / "lock").string());
}

void ArtifactStore::remove_logged(const fs::path& p) {
  try {
    remove_tree(p);
  } catch (const std::exception& e) {
    log::warn("cache: {}; left in place", e.what());
  }
}

namespace {

std::string owner_text(const FileOwner& o) {
  return std::to_string(o.uid) + ":" + std::to_string(o.gid);
}

}  // namespace

void ArtifactStore::check_owner() {
  std::string want = owner_text(options_.owner.value_or(FileOwner{geteuid(), getegid()}));
  std::string have = read_small_file(root_ / "owner");
  while (!have.empty() && have.back() == '\n') have.pop_back();
  if (have == want) return;
  // Trees extracted for another owner would show jobs files that are not theirs: drop them
  // (blobs stay, the trees are extracted again when next used).
  if (!have.empty() || !fs::is_empty(root_ / "trees"))
    log::info("cache: layer trees of {} were extracted for owner {}, not {}: extracting them again",
              root_.string(), have.empty() ? "unknown" : have, want);
  for (const auto& de : fs::directory_iterator(root_ / "trees")) {
    // Out of trees/ first, so that what cannot be removed is never used.
    fs::path away = new_temp("dropped");
    if (rename(de.path().c_str(), away.c_str()) != 0) {
      log::warn("cache: cannot drop {}: {}", de.path().string(), std::strerror(errno));
      continue;
    }
    remove_logged(away);
  }
  fs::path tmp = new_temp("owner");
  {
    std::ofstream out(tmp);
    out << want << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  if (rename(tmp.c_str(), (root_ / "owner").c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    throw_errno("rename into " + (root_ / "owner").string(), e);
  }
}

ArtifactStore::~ArtifactStore() = default;

void ArtifactStore::load_index() {
  struct stat st;
  for (const auto& de : fs::directory_iterator(root_ / "blobs")) {
    auto d = parse_hex_name(de.path().filename().string());
    if (!d || lstat(de.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      remove_logged(de.path());
      continue;
    }
    blobs_[*d] = Entry{static_cast<uint64_t>(st.st_size), mtime_ns(st)};
    total_ += static_cast<uint64_t>(st.st_size);
  }
  for (const auto& de : fs::directory_iterator(root_ / "trees")) {
    auto d = parse_hex_name(de.path().filename().string());
    std::string size_text = d ? read_small_file(de.path() / "size") : "";
    if (!d || size_text.empty() || lstat(de.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      remove_logged(de.path());
      continue;
    }
    uint64_t size = 0;
    try {
      size = std::stoull(size_text);
    } catch (const std::exception&) {
      remove_logged(de.path());
      continue;
    }
    trees_[*d] = Entry{size, mtime_ns(st)};
    total_ += size;
  }
  for (const auto& e : blobs_) last_stamp_ = std::max(last_stamp_, e.second.last_used_ns);
  for (const auto& e : trees_) last_stamp_ = std::max(last_stamp_, e.second.last_used_ns);
  // Memo entries whose blob is gone are useless: drop them.
  for (const auto& de : fs::directory_iterator(root_ / "memo")) {
    auto d = parse_hex_name(read_small_file(de.path()));
    if (!d || !blobs_.count(*d)) remove_logged(de.path());
  }
}

fs::path ArtifactStore::blob_file(const Digest& d) const {
  return root_ / "blobs" / d.hex();
}
fs::path ArtifactStore::tree_dir(const Digest& d) const {
  return root_ / "trees" / d.hex();
}

fs::path ArtifactStore::new_temp(const char* kind) {
  uint64_t n;
  {
    std::lock_guard lk(mu_);
    n = ++temp_counter_;
  }
  return root_ / "tmp" / (std::string(kind) + "-" + std::to_string(getpid()) + "-" + std::to_string(n));
}

int64_t ArtifactStore::next_stamp() {
  last_stamp_ = std::max(wall_ns(), last_stamp_ + 1);
  return last_stamp_;
}

void ArtifactStore::touch(Entry& e, const fs::path& p) {
  e.last_used_ns = next_stamp();
  struct timespec ts[2];
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = e.last_used_ns / 1000000000;
  ts[1].tv_nsec = e.last_used_ns % 1000000000;
  if (utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    log::debug("cache: cannot record use of {}: {}", p.string(), std::strerror(errno));
}

// ---- blobs ---------------------------------------------------------------------

bool ArtifactStore::has_blob(const Digest& d) const {
  std::lock_guard lk(mu_);
  return blobs_.count(d) != 0;
}

bool ArtifactStore::has_tree(const Digest& d) const {
  std::lock_guard lk(mu_);
  return trees_.count(d) != 0;
}

std::optional<uint64_t> ArtifactStore::blob_size(const Digest& d) const {
  std::lock_guard lk(mu_);
  auto it = blobs_.find(d);
  if (it == blobs_.end()) return std::nullopt;
  return it->second.size;
}

std::optional<fs::path> ArtifactStore::blob_path(const Digest& d) {
  std::lock_guard lk(mu_);
  auto it = blobs_.find(d);
  if (it == blobs_.end()) return std::nullopt;
  touch(it->second, blob_file(d));
  return blob_file(d);
}

bool ArtifactStore::pin_blob(const Digest& d) {
  std::lock_guard lk(mu_);
  if (!blobs_.count(d)) return false;
  ++blob_pins_[d];
  return true;
}

void ArtifactStore::unpin_blob(const Digest& d) {
  std::unique_lock lk(mu_);
  if (!drop_pin(blob_pins_, d)) return;
  evict_after_release(lk);  // the cache may be above its bound because of the pin
}

ArtifactStore::PinnedBlobs::PinnedBlobs(PinnedBlobs&& o) noexcept
    : store_(std::exchange(o.store_, nullptr)), digests_(std::move(o.digests_)) {}

ArtifactStore::PinnedBlobs& ArtifactStore::PinnedBlobs::operator=(PinnedBlobs&& o) noexcept {
  if (this != &o) {
    release();
    store_ = std::exchange(o.store_, nullptr);
    digests_ = std::move(o.digests_);
  }
  return *this;
}

bool ArtifactStore::PinnedBlobs::add(const Digest& d) {
  if (!store_->pin_blob(d)) return false;
  digests_.push_back(d);
  return true;
}

void ArtifactStore::PinnedBlobs::release() {
  if (store_ && !digests_.empty()) {
    std::unique_lock lk(store_->mu_);
    for (const Digest& d : digests_) drop_pin(store_->blob_pins_, d);
    store_->evict_after_release(lk);
  }
  store_ = nullptr;
  digests_.clear();
}

ArtifactStore::PinnedBlobs ArtifactStore::pin_blobs(const std::vector<Digest>& digests) {
  std::lock_guard lk(mu_);
  for (const Digest& d : digests)
    if (!blobs_.count(d)) throw std::runtime_error("artifact " + d.hex() + " is not in the cache");
  PinnedBlobs pins;
  pins.store_ = this;
  pins.digests_ = digests;
  for (const Digest& d : digests) ++blob_pins_[d];
  return pins;
}

ArtifactStore::EvictionHold ArtifactStore::hold_eviction() {
  std::lock_guard lk(mu_);
  ++eviction_holds_;
  return EvictionHold(this);
}

ArtifactStore::EvictionHold::~EvictionHold() {
  if (!store_) return;
  std::unique_lock lk(store_->mu_);
  if (--store_->eviction_holds_ > 0) return;
  store_->evict_after_release(lk);
}

std::optional<UniqueFd> ArtifactStore::open_blob(const Digest& d) {
  std::lock_guard lk(mu_);
  auto it = blobs_.find(d);
  if (it == blobs_.end()) return std::nullopt;
  UniqueFd fd(open(blob_file(d).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("open " + blob_file(d).string());
  touch(it->second, blob_file(d));
  return fd;
}

ArtifactStore::BlobWriter ArtifactStore::begin_blob(std::optional<Digest> expected) {
  fs::path tmp = new_temp("blob");
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) throw_errno("create " + tmp.string());
  return BlobWriter(this, std::move(tmp), std::move(fd), expected);
}

ArtifactStore::BlobWriter::BlobWriter(ArtifactStore* store, fs::path tmp, UniqueFd fd,
                                      std::optional<Digest> expected)
    : store_(store),
      tmp_(std::move(tmp)),
      fd_(std::move(fd)),
      expected_(expected),
      hash_(std::make_unique<Sha256>()) {}

ArtifactStore::BlobWriter::BlobWriter(BlobWriter&& o) noexcept
    : store_(o.store_),
      tmp_(std::move(o.tmp_)),
      fd_(std::move(o.fd_)),
      expected_(o.expected_),
      hash_(std::move(o.hash_)),
      size_(o.size_),
      done_(std::exchange(o.done_, true)) {}

ArtifactStore::BlobWriter::~BlobWriter() {
  if (done_) return;
  fd_.reset();
  unlink(tmp_.c_str());
}

void ArtifactStore::BlobWriter::write(std::string_view data) {
  if (done_) throw std::logic_error("BlobWriter::write after commit");
  write_all(fd_.get(), data.data(), data.size(), "write " + tmp_.string());
  hash_->update(data);
  size_ += data.size();
}

Digest ArtifactStore::BlobWriter::commit() {
  if (done_) throw std::logic_error("BlobWriter::commit twice");
  done_ = true;
  Digest got = hash_->finish();
  fd_.reset();
  if (expected_ && *expected_ != got) {
    unlink(tmp_.c_str());
    throw UserError("artifact digest mismatch: expected " + expected_->hex() + ", got " + got.hex());
  }
  return store_->install_blob(tmp_, got, size_);
}

Digest ArtifactStore::install_blob(const fs::path& tmp, const Digest& d, uint64_t size) {
  chmod(tmp.c_str(), 0444);
  std::unique_lock lk(mu_);
  auto it = blobs_.find(d);
  if (it != blobs_.end()) {
    unlink(tmp.c_str());
    touch(it->second, blob_file(d));
    return d;
  }
  if (rename(tmp.c_str(), blob_file(d).c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    throw_errno("rename into " + blob_file(d).string(), e);
  }
  Entry& entry = blobs_[d];
  entry.size = size;
  touch(entry, blob_file(d));
  total_ += size;
  evict(lk, &d);
  return d;
}

Digest ArtifactStore::add_blob_bytes(std::string_view bytes) {
  BlobWriter w = begin_blob();
  w.write(bytes);
  return w.commit();
}

Digest ArtifactStore::add_blob_file(const fs::path& src) {
  UniqueFd in(open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) {
    if (errno == ENOENT) throw UserError("file " + src.string() + " does not exist");
    throw_errno("open " + src.string());
  }
  BlobWriter w = begin_blob();
  // A reflink shares the bytes copy-on-write; we then hash our own copy, which
  // nobody else can change.
  if (ioctl(w.fd_.get(), FICLONE, in.get()) == 0) {
    struct stat st;
    check_sys(fstat(w.fd_.get(), &st), "fstat " + w.tmp_.string());
    Digest d = Digest::of_file(w.tmp_);
    w.done_ = true;
    w.fd_.reset();
    return install_blob(w.tmp_, d, static_cast<uint64_t>(st.st_size));
  }
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + src.string());
    }
    if (n == 0) break;
    w.write(buf.data(), static_cast<size_t>(n));
  }
  return w.commit();
}

// ---- trees ---------------------------------------------------------------------

ArtifactStore::TreeRef::TreeRef(TreeRef&& o) noexcept
    : store_(std::exchange(o.store_, nullptr)), digest_(o.digest_), path_(std::move(o.path_)) {}

ArtifactStore::TreeRef& ArtifactStore::TreeRef::operator=(TreeRef&& o) noexcept {
  if (this != &o) {
    if (store_) store_->unpin(digest_);
    store_ = std::exchange(o.store_, nullptr);
    digest_ = o.digest_;
    path_ = std::move(o.path_);
  }
  return *this;
}

ArtifactStore::TreeRef::~TreeRef() {
  if (store_) store_->unpin(digest_);
}

void ArtifactStore::unpin(const Digest& d) {
  std::unique_lock lk(mu_);
  drop_pin(pins_, d);
  evict_after_release(lk);
}

ArtifactStore::TreeRef ArtifactStore::tree(const Digest& d) {
  std::unique_lock lk(mu_);
  for (;;) {
    if (auto it = trees_.find(d); it != trees_.end()) {
      ++pins_[d];
      touch(it->second, tree_dir(d));
      return TreeRef(this, d, tree_dir(d) / "root");
    }
    auto ex = extracting_.find(d);
    if (ex == extracting_.end()) break;
    std::shared_ptr<Extraction> job = ex->second;
    cv_.wait(lk, [&] { return job->done; });
    if (job->error) std::rethrow_exception(job->error);
  }
  auto bit = blobs_.find(d);
  if (bit == blobs_.end()) throw std::runtime_error("artifact " + d.hex() + " is not in the cache");
  UniqueFd fd(open(blob_file(d).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("open " + blob_file(d).string());
  touch(bit->second, blob_file(d));
  auto job = std::make_shared<Extraction>();
  extracting_[d] = job;
  ++extractions_;
  fs::path tmp = root_ / "tmp" / ("tree-" + std::to_string(getpid()) + "-" + std::to_string(++temp_counter_));
  std::string name = describe_locked(d);
  lk.unlock();

  uint64_t size = 0;
  try {
    if (mkdir(tmp.c_str(), 0700) != 0) throw_errno("mkdir " + tmp.string());
    ExtractOptions options;
    options.owner = options_.owner;
    options.limits = layer_limits();
    options.bytes_hint = layer_bytes_hint();
    extract_tar_fd(fd.get(), name, tmp / "root", options);
    size = disk_usage(tmp);
    std::ofstream(tmp / "size") << size << "\n";
    lk.lock();
    if (rename(tmp.c_str(), tree_dir(d).c_str()) != 0) throw_errno("rename into " + tree_dir(d).string());
  } catch (...) {
    if (!lk.owns_lock()) lk.lock();
    job->error = std::current_exception();
    job->done = true;
    extracting_.erase(d);
    cv_.notify_all();
    lk.unlock();
    remove_logged(tmp);
    throw;
  }
  Entry& entry = trees_[d];
  entry.size = size;
  touch(entry, tree_dir(d));
  total_ += size;
  ++pins_[d];
  job->done = true;
  extracting_.erase(d);
  cv_.notify_all();
  TreeRef ref(this, d, tree_dir(d) / "root");
  evict(lk, &d);
  return ref;
}

void ArtifactStore::set_label(const Digest& d, std::string label) {
  std::lock_guard lk(mu_);
  labels_[d] = std::move(label);
}

std::string ArtifactStore::describe(const Digest& d) const {
  std::lock_guard lk(mu_);
  return describe_locked(d);
}

std::string ArtifactStore::describe_locked(const Digest& d) const {
  auto it = labels_.find(d);
  if (it == labels_.end()) return "layer sha256:" + d.hex();
  return it->second + " (sha256:" + d.hex().substr(0, 12) + ")";
}

LayerLimits ArtifactStore::layer_limits() const {
  LayerLimits l;
  l.max_bytes = options_.max_layer_bytes ? std::min(options_.max_layer_bytes, size_limit_) : size_limit_;
  l.max_entries = options_.max_layer_entries;
  return l;
}

std::string ArtifactStore::layer_bytes_hint() const {
  if (options_.max_layer_bytes && options_.max_layer_bytes < size_limit_) return "the limit for one layer";
  return "the cache size; raise --cache-size";
}

uint64_t ArtifactStore::extraction_count() const {
  std::lock_guard lk(mu_);
  return extractions_;
}

uint64_t ArtifactStore::size_bytes() const {
  std::lock_guard lk(mu_);
  return total_;
}

// ---- eviction --------------------------------------------------------------------

void ArtifactStore::evict_after_release(std::unique_lock<std::mutex>& lk) {
  try {
    evict(lk, nullptr);
  } catch (const std::exception& e) {
    log::warn("cache: eviction failed: {}", e.what());
  }
}

void ArtifactStore::evict(std::unique_lock<std::mutex>& lk, const Digest* keep) {
  if (eviction_holds_ > 0 || total_ <= size_limit_) return;
  std::vector<std::tuple<int64_t, bool, Digest>> candidates;  // (last use, is tree, digest)
  for (const auto& [d, e] : blobs_)
    if ((!keep || d != *keep) && !blob_pins_.count(d)) candidates.emplace_back(e.last_used_ns, false, d);
  for (const auto& [d, e] : trees_)
    if ((!keep || d != *keep) && !pins_.count(d)) candidates.emplace_back(e.last_used_ns, true, d);
  std::sort(candidates.begin(), candidates.end());
  std::vector<fs::path> trash;
  for (const auto& [stamp, is_tree, d] : candidates) {
    if (total_ <= size_limit_) break;
    if (is_tree) {
      fs::path t =
          root_ / "tmp" / ("evicted-" + std::to_string(getpid()) + "-" + std::to_string(++temp_counter_));
      if (rename(tree_dir(d).c_str(), t.c_str()) != 0) {
        log::warn("cache: cannot evict {}: {}", tree_dir(d).string(), std::strerror(errno));
        continue;
      }
      trash.push_back(std::move(t));
      total_ -= trees_[d].size;
      trees_.erase(d);
    } else {
      if (unlink(blob_file(d).c_str()) != 0 && errno != ENOENT) {
        log::warn("cache: cannot evict {}: {}", blob_file(d).string(), std::strerror(errno));
        continue;
      }
      total_ -= blobs_[d].size;
      blobs_.erase(d);
    }
    log::debug("cache: evicted {} {}", is_tree ? "tree" : "blob", d.hex());
  }
  if (trash.empty()) return;
  lk.unlock();
  for (const auto& t : trash) remove_logged(t);
  lk.lock();
}

// ---- memo ----------------------------------------------------------------------

std::optional<Digest> ArtifactStore::lookup_memo(const std::string& key) {
  fs::path p = root_ / "memo" / Digest::of_bytes(key).hex();
  std::string text = read_small_file(p);
  auto d = parse_hex_name(text);
  if (!d) return std::nullopt;
  std::lock_guard lk(mu_);
  auto it = blobs_.find(*d);
  if (it == blobs_.end()) {
    unlink(p.c_str());
    return std::nullopt;
  }
  touch(it->second, blob_file(*d));
  return d;
}

void ArtifactStore::record_memo(const std::string& key, const Digest& d) {
  fs::path tmp = new_temp("memo");
  {
    std::ofstream out(tmp);
    out << d.hex();
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::path p = root_ / "memo" / Digest::of_bytes(key).hex();
  if (rename(tmp.c_str(), p.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    throw_errno("rename into " + p.string(), e);
  }
}

}  // namespace mael
