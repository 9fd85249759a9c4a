#pragma once
// The image depot's content-addressed blob store. Layout under the depot root:
//   blobs/sha256/HEX          verified blobs (manifests, configs, layers)
//   blobs/sha256/HEX.partial  an interrupted download, resumed by the next fill
//   locks/HEX.lock            flock()ed while a blob is being filled, so that
//                             one process (and one thread) downloads a digest
//   tmp/                      scratch space (extracted archives)
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/digest.h"
#include "base/unique_fd.h"

namespace mael {

// An flock() on a file (created when missing), held for the object's lifetime.
class FileLock {
 public:
  enum class Mode { kShared, kExclusive };
  explicit FileLock(const std::filesystem::path& path, Mode mode = Mode::kExclusive);
  int fd() const { return fd_.get(); }

  // The exclusive lock if nobody holds any lock on the file, else nullptr.
  static std::unique_ptr<FileLock> try_exclusive(const std::filesystem::path& path);

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path blob_path(const Digest& d) const;
  bool has(const Digest& d) const;

  // Makes the blob present. When it is missing, takes the digest's lock, and
  // if still missing calls fill(partial) which must complete the file
  // `partial` (it may hold the start of an earlier attempt) and return the
  // digest of its whole content. A wrong digest deletes the partial file and
  // throws UserError("<what>: digest mismatch ..."). Returns the blob's path.
  using Fill = std::function<Digest(const std::filesystem::path& partial)>;
  std::filesystem::path ensure(const Digest& d, const Fill& fill, const std::string& what);

  // Stores small content (verified against d).
  void put(const Digest& d, std::string_view bytes, const std::string& what);
  std::string read(const Digest& d) const;

  // A fresh directory under tmp/; the caller removes it.
  std::filesystem::path make_temp_dir() const;

 private:
  std::filesystem::path root_;
};

// Copies `from` to `to` (appending nothing: `to` is replaced) and returns the digest.
Digest copy_and_hash(const std::filesystem::path& from, const std::filesystem::path& to);

// Removes a directory tree on scope exit.
class TempDir {
 public:
  explicit TempDir(std::filesystem::path p) : path_(std::move(p)) {}
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mael
