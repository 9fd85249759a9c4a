#include "store/tar_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <vector>

#include "base/error.h"
#include "base/tar_reader.h"
#include "base/log.h"
#include "store/fs_util.h"
#include "store/whiteout.h"

namespace fs = std::filesystem;

namespace mael {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

std::pair<std::string, std::string> split_parent(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

class Extractor {
 public:
  Extractor(std::string name, fs::path dest, const ExtractOptions& options)
      : name_(std::move(name)), dest_(std::move(dest)), options_(options) {}

  void run(int fd) {
    fs::create_directories(dest_);
    dest_ = fs::canonical(dest_);  // libarchive's symlink checks walk the whole path
    dest_fd_.reset(open(dest_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dest_fd_.valid()) throw_errno("open " + dest_.string());

    std::unique_ptr<archive, ReadDeleter> in(new_tar_reader());
    if (archive_read_open_fd(in.get(), fd, 1 << 16) != ARCHIVE_OK) fail(in.get(), "cannot read");

    std::unique_ptr<archive, WriteDeleter> out(archive_write_disk_new());
    archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                                  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                  ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
    for (;;) {
      archive_entry* e = nullptr;
      int r = archive_read_next_header(in.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN)
        log::debug("layer tar {}: {}", name_, archive_error_string(in.get()));
      else if (r != ARCHIVE_OK)
        fail(in.get(), "cannot read");
      entry(in.get(), out.get(), e);
    }
    if (archive_write_close(out.get()) != ARCHIVE_OK) fail(out.get(), "cannot finish extraction");
  }

 private:
  [[noreturn]] void fail(archive* a, const std::string& what, const std::string& entry = "") {
    const char* msg = archive_error_string(a);
    throw UserError("layer tar " + name_ + ": " + what + (entry.empty() ? "" : " '" + entry + "'") + ": " +
                    (msg ? msg : "unknown error"));
  }

  void entry(archive* in, archive* out, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) {
      log::warn("layer tar {}: skipping an entry whose name is not readable", name_);
      return;
    }
    std::string rel = normalize_entry_name(raw, name_);
    if (rel.empty()) return;  // the root itself: keep dest's own mode
    auto [parent, base] = split_parent(rel);

    if (base.starts_with(kWhiteoutPrefix)) {
      whiteout(parent, base);
      return;
    }
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK) {
      log::debug("layer tar {}: skipping special file {}", name_, rel);
      return;
    }
    if (const char* link = archive_entry_hardlink(e)) {
      std::string target = normalize_entry_name(link, name_);
      auto [tparent, tbase] = split_parent(target);
      // The hard link's source must be reached without passing a symlink.
      if (target.empty() || !open_dir_beneath(dest_fd_.get(), tparent, false).valid())
        throw UserError("layer tar " + name_ + ": hard link '" + rel + "' points to missing '" + target +
                        "'");
      archive_entry_set_hardlink(e, (dest_ / target).c_str());
    }
    archive_entry_set_perm(e, archive_entry_perm(e) & ~static_cast<mode_t>(S_ISUID | S_ISGID));
    archive_entry_set_pathname(e, (dest_ / rel).c_str());
    archive_entry_xattr_clear(e);
    if (options_.whiteouts == WhiteoutMode::kApply) written_.insert(rel);

    int r = archive_write_header(out, e);
    if (r == ARCHIVE_WARN) {
      log::debug("layer tar {}: {}: {}", name_, rel, archive_error_string(out));
    } else if (r != ARCHIVE_OK) {
      fail(out, "cannot extract", rel);
    }
    if (archive_entry_size(e) > 0 && r >= ARCHIVE_WARN) copy_data(in, out, rel);
    r = archive_write_finish_entry(out);
    if (r < ARCHIVE_WARN) fail(out, "cannot extract", rel);
  }

  void copy_data(archive* in, archive* out, const std::string& rel) {
    for (;;) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) return;
      if (r < ARCHIVE_WARN) fail(in, "cannot read", rel);
      if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN) fail(out, "cannot write", rel);
    }
  }

  void whiteout(const std::string& parent, const std::string& base) {
    if (base == kOpaqueMarker) {
      if (options_.whiteouts == WhiteoutMode::kOverlay) {
        make_overlay_opaque(open_dir_beneath(dest_fd_.get(), parent, true).get());
      } else {
        UniqueFd dir = open_dir_beneath(dest_fd_.get(), parent, false);
        if (dir.valid()) clear_older(dir.get(), parent);
      }
      return;
    }
    std::string name = base.substr(kWhiteoutPrefix.size());
    if (name.starts_with(kWhiteoutPrefix) || name.empty() || name == "." || name == "..") {
      log::debug("layer tar {}: skipping whiteout metadata {}", name_, base);
      return;
    }
    if (options_.whiteouts == WhiteoutMode::kOverlay) {
      make_overlay_whiteout(open_dir_beneath(dest_fd_.get(), parent, true).get(), name);
    } else {
      std::string rel = parent.empty() ? name : parent + "/" + name;
      if (open_dir_beneath(dest_fd_.get(), parent, false).valid() && !written_by_us(rel))
        remove_tree(dest_ / rel);
    }
  }

  // Whether this layer wrote rel itself or something below it.
  bool written_by_us(const std::string& rel) const {
    auto it = written_.lower_bound(rel);
    return it != written_.end() && (*it == rel || it->starts_with(rel + "/"));
  }

  // Removes what older layers left in directory rel, keeping this layer's entries.
  void clear_older(int dirfd, const std::string& rel) {
    UniqueFd dup(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
    DIR* d = fdopendir(dup.release());
    if (d == nullptr) throw_errno("opendir " + rel);
    std::vector<std::string> names;
    while (dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    for (const auto& n : names) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      if (!written_by_us(child)) {
        remove_tree(dest_ / child);
      } else if (struct stat st;
                 fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        clear_older(open_dir_beneath(dirfd, n, false).get(), child);
      }
    }
  }

  std::string name_;
  fs::path dest_;
  ExtractOptions options_;
  UniqueFd dest_fd_;
  std::set<std::string> written_;
};

}  // namespace

std::string normalize_entry_name(std::string_view name, const std::string& tar_name) {
  std::string out;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t slash = name.find('/', pos);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view comp = name.substr(pos, slash - pos);
    pos = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..")
      throw UserError("layer tar " + tar_name + ": entry '" + std::string(name) +
                      "' points outside the layer; rebuild the tar without '..' in names");
    if (!out.empty()) out += '/';
    out += comp;
  }
  return out;
}

void extract_tar_fd(int fd, const std::string& name, const fs::path& dest, const ExtractOptions& options) {
  Extractor(name, dest, options).run(fd);
}

void extract_tar(const fs::path& tar, const fs::path& dest, const ExtractOptions& options) {
  UniqueFd fd(open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) throw UserError("layer tar " + tar.string() + " does not exist");
    throw_errno("open " + tar.string());
  }
  extract_tar_fd(fd.get(), tar.string(), dest, options);
}

}  // namespace mael
