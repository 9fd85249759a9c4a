#pragma once
// Test helper (header-only, tests only): builds tar archives in memory with
// libarchive, including entries a normal tar tool would not make.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/fs_util.h"
#include "store/pax_writer.h"

namespace mael::testing {

struct TarItem {
  enum Kind { kFile, kDir, kSymlink, kHardlink, kChar, kFifo, kSparse } kind = kFile;
  std::string path;
  std::string data;  // file contents, or symlink / hard link target
  unsigned mode = 0644;
  uint64_t sparse_size = 0;  // kSparse: the file's logical size; data is its only region, at 0
};

inline TarItem tfile(std::string p, std::string data, unsigned mode = 0644) {
  return {TarItem::kFile, std::move(p), std::move(data), mode};
}
inline TarItem tdir(std::string p, unsigned mode = 0755) {
  return {TarItem::kDir, std::move(p), "", mode};
}
inline TarItem tsymlink(std::string p, std::string target) {
  return {TarItem::kSymlink, std::move(p), std::move(target), 0777};
}
inline TarItem thardlink(std::string p, std::string target) {
  return {TarItem::kHardlink, std::move(p), std::move(target), 0644};
}

// A sparse file of logical size `size` whose only data is `data`, at offset 0.
inline TarItem tsparse(std::string p, std::string data, uint64_t size) {
  return {TarItem::kSparse, std::move(p), std::move(data), 0644, size};
}

enum class Compression { kNone, kGzip, kZstd, kLz4 };

inline std::string make_tar(const std::vector<TarItem>& items, Compression c = Compression::kNone) {
  archive* a = new_pax_writer();
  if (c == Compression::kGzip) archive_write_add_filter_gzip(a);
  if (c == Compression::kZstd) archive_write_add_filter_zstd(a);
  if (c == Compression::kLz4) archive_write_add_filter_lz4(a);
  // No zero padding after a compressed stream (zstd readers reject it).
  if (c != Compression::kNone) archive_write_set_bytes_in_last_block(a, 1);
  std::string out;
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* ud, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ud)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& it : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.path.c_str());
    archive_entry_set_perm(e, it.mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (it.kind) {
      case TarItem::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(it.data.size()));
        break;
      case TarItem::kDir: archive_entry_set_filetype(e, AE_IFDIR); break;
      case TarItem::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, it.data.c_str());
        break;
      case TarItem::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, it.data.c_str());
        break;
      case TarItem::kChar:
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        break;
      case TarItem::kFifo: archive_entry_set_filetype(e, AE_IFIFO); break;
      case TarItem::kSparse:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(it.sparse_size));
        archive_entry_sparse_add_entry(e, 0, static_cast<la_int64_t>(it.data.size()));
        break;
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    if ((it.kind == TarItem::kFile || it.kind == TarItem::kSparse) && !it.data.empty())
      archive_write_data(a, it.data.data(), it.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// A fresh temporary directory, removed (whatever its modes) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mael-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    try {
      remove_tree(path_);  // copes with modes like 0555 that trees keep
    } catch (...) {
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mael::testing
