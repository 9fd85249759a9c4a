#include "store/tar_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include "base/error.h"
#include "base/log.h"
#include "base/tar_reader.h"
#include "store/fs_util.h"
#include "store/tree_walk.h"
#include "store/whiteout.h"

namespace fs = std::filesystem;

namespace mael {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::pair<std::string, std::string> split_parent(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// Writes all of [data, data + n) at offset.
void pwrite_all(int fd, const char* data, size_t n, off_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write");
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
}

class Extractor {
 public:
  Extractor(std::string name, fs::path dest, const ExtractOptions& options)
      : name_(std::move(name)),
        dest_(std::move(dest)),
        options_(options),
        budget_(options.limits, name_, options.bytes_hint) {}

  void run(int fd) {
    fs::create_directories(dest_);
    dest_fd_.reset(open(dest_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dest_fd_.valid()) throw_errno("open " + dest_.string());
    if (options_.owner)
      check_sys(fchown(dest_fd_.get(), options_.owner->uid, options_.owner->gid), "chown " + dest_.string());
    cursor_.emplace(dest_fd_.get(), [this](const std::string& rel, int parent_fd, const std::string& name) {
      // A directory a deeper name needed: counted, owned and given the usual mode like any other.
      budget_.add_entry();
      own(parent_fd, name);
      fixups_.emplace(rel, DirFixup{0755, std::nullopt});
    });

    std::unique_ptr<archive, ReadDeleter> in(new_tar_reader());
    if (archive_read_open_fd(in.get(), fd, 1 << 16) != ARCHIVE_OK) fail(in.get(), "cannot read");
    for (;;) {
      archive_entry* e = nullptr;
      int r = archive_read_next_header(in.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN)
        log::debug("{}: {}", name_, archive_error_string(in.get()));
      else if (r != ARCHIVE_OK)
        fail(in.get(), "cannot read");
      try {
        entry(in.get(), e);
      } catch (const std::system_error& err) {
        // What the file system refused for this entry (a name too long for it, too many links...).
        const char* raw = archive_entry_pathname(e);
        throw UserError(name_ + ": cannot extract '" + shorten_path(raw ? raw : "?") + "': " + err.what());
      }
    }
    try {
      finish_dirs();
    } catch (const std::system_error& err) {
      throw UserError(name_ + ": " + err.what());
    }
  }

 private:
  // Mode and times a directory gets once everything inside it was written (until then it stays
  // 0700, so that we can write into it whatever its final mode).
  struct DirFixup {
    mode_t mode;
    std::optional<struct timespec> mtime;
  };

  [[noreturn]] void fail(archive* a, const std::string& what, const std::string& entry = "") {
    const char* msg = archive_error_string(a);
    throw UserError(name_ + ": " + what + (entry.empty() ? "" : " '" + shorten_path(entry) + "'") + ": " +
                    (msg ? msg : "unknown error"));
  }
  [[noreturn]] void fail_errno(const std::string& what, const std::string& entry, int err = errno) {
    throw UserError(name_ + ": cannot " + what + " '" + shorten_path(entry) + "': " + std::strerror(err));
  }

  void own(int dir_fd, const std::string& name) {
    if (options_.owner &&
        fchownat(dir_fd, name.c_str(), options_.owner->uid, options_.owner->gid, AT_SYMLINK_NOFOLLOW) != 0)
      throw_errno("chown " + shorten_path(name));
  }

  // Makes room for a new entry `base` in dir_fd: removes what is there, except a directory when
  // the new entry is one too (then returns true).
  bool clear_place(int dir_fd, const std::string& base, const std::string& rel, bool for_dir) {
    struct stat st;
    if (fstatat(dir_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      fail_errno("stat", rel);
    }
    if (S_ISDIR(st.st_mode)) {
      if (for_dir) return true;
      remove_tree_at(dir_fd, base);
      forget_fixups(rel);
    } else if (unlinkat(dir_fd, base.c_str(), 0) != 0) {
      fail_errno("replace", rel);
    }
    return false;
  }

  // Drops the pending fixups of rel and everything below it (it was removed).
  void forget_fixups(const std::string& rel) {
    auto it = fixups_.lower_bound(rel);
    while (it != fixups_.end() && (it->first == rel || it->first.starts_with(rel + "/")))
      it = fixups_.erase(it);
  }

  // In kApply mode older layers' directories have their final modes: make the one we write
  // into writable for the time being (restored by finish_dirs).
  void make_writable(int dir_fd, const std::string& rel) {
    if (options_.whiteouts != WhiteoutMode::kApply || fixups_.count(rel)) return;
    struct stat st;
    check_sys(fstat(dir_fd, &st), "fstat");
    if ((st.st_mode & 0700) == 0700) return;
    fixups_.emplace(rel, DirFixup{static_cast<mode_t>(st.st_mode & 07777), st.st_mtim});
    check_sys(fchmod(dir_fd, (st.st_mode & 07777) | 0700), "chmod");
  }

  static std::optional<struct timespec> entry_mtime(archive_entry* e) {
    if (!archive_entry_mtime_is_set(e)) return std::nullopt;
    return timespec{archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  }

  static void set_times(int dir_fd, const char* name, archive_entry* e, int flags) {
    auto m = entry_mtime(e);
    if (!m) return;
    struct timespec ts[2] = {*m, *m};
    if (archive_entry_atime_is_set(e)) ts[0] = {archive_entry_atime(e), archive_entry_atime_nsec(e)};
    // A time the file system cannot store is not worth failing the layer for.
    if (utimensat(dir_fd, name, ts, flags) != 0)
      log::debug("cannot set the times of {}: {}", name, std::strerror(errno));
  }

  void entry(archive* in, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) {
      log::warn("{}: skipping an entry whose name is not readable", name_);
      return;
    }
    budget_.add_entry();
    std::string rel = normalize_entry_name(raw, name_);
    if (rel.empty()) return;  // the root itself: keep dest's own mode
    auto [parent, base] = split_parent(rel);

    if (base.starts_with(kWhiteoutPrefix)) {
      whiteout(parent, base);
      return;
    }
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK) {
      log::debug("{}: skipping special file {}", name_, shorten_path(rel));
      return;
    }
    mode_t mode = archive_entry_perm(e) & 07777 & ~static_cast<mode_t>(S_ISUID | S_ISGID);
    if (options_.whiteouts == WhiteoutMode::kApply) written_.insert(rel);

    if (const char* link = archive_entry_hardlink(e)) {
      hard_link(rel, normalize_entry_name(link, name_));
      return;
    }
    int dir_fd = cursor_->go(parent, true);
    make_writable(dir_fd, parent);
    switch (type) {
      case AE_IFDIR: {
        if (!clear_place(dir_fd, base, rel, true)) {
          if (mkdirat(dir_fd, base.c_str(), 0700) != 0) fail_errno("create directory", rel);
          own(dir_fd, base);
        }
        fixups_[rel] = DirFixup{mode, entry_mtime(e)};
        return;
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        clear_place(dir_fd, base, rel, false);
        if (symlinkat(target ? target : "", dir_fd, base.c_str()) != 0) fail_errno("create symlink", rel);
        own(dir_fd, base);
        set_times(dir_fd, base.c_str(), e, AT_SYMLINK_NOFOLLOW);
        return;
      }
      case AE_IFREG:
      case 0:  // old tars leave the type to the name
        regular_file(in, e, dir_fd, base, rel, mode);
        return;
      default: log::debug("{}: skipping {} of unknown type", name_, shorten_path(rel));
    }
  }

  void regular_file(archive* in, archive_entry* e, int dir_fd, const std::string& base,
                    const std::string& rel, mode_t mode) {
    uint64_t size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
                        ? static_cast<uint64_t>(archive_entry_size(e))
                        : 0;
    budget_.add_file_size(size);  // all of it, holes included, before a byte is written
    clear_place(dir_fd, base, rel, false);
    UniqueFd out(openat(dir_fd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) fail_errno("create", rel);
    uint64_t end = 0;  // of the data written
    for (;;) {
      const void* buf;
      size_t n;
      la_int64_t offset;
      int r = archive_read_data_block(in, &buf, &n, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) fail(in, "cannot read", rel);
      if (offset < 0) fail(in, "bad data offset in", rel);
      uint64_t block_end = static_cast<uint64_t>(offset) + n;
      // Data past the size the header declared: count it too.
      if (block_end > size && block_end > end)
        budget_.add_bytes(LayerBudget::round_up(block_end) - LayerBudget::round_up(std::max(end, size)));
      end = std::max(end, block_end);
      try {
        pwrite_all(out.get(), static_cast<const char*>(buf), n, offset);
      } catch (const std::system_error& err) {
        fail_errno("write", rel, err.code().value());
      }
    }
    // A sparse file's trailing hole.
    if (size > end && ftruncate(out.get(), static_cast<off_t>(size)) != 0) fail_errno("write", rel);
    if (options_.owner) check_sys(fchown(out.get(), options_.owner->uid, options_.owner->gid), "chown");
    check_sys(fchmod(out.get(), mode), "chmod");
    set_times(dir_fd, base.c_str(), e, AT_SYMLINK_NOFOLLOW);
  }

  void hard_link(const std::string& rel, const std::string& target) {
    auto [tparent, tbase] = split_parent(target);
    auto [parent, base] = split_parent(rel);
    // The link's source is reached without passing a symlink; a hard link to a directory or to
    // itself makes no sense.
    UniqueFd tdir = target.empty() ? UniqueFd() : open_dir_beneath(dest_fd_.get(), tparent, false);
    struct stat st;
    if (!tdir.valid() || fstatat(tdir.get(), tbase.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISDIR(st.st_mode) || target == rel)
      throw UserError(name_ + ": hard link '" + shorten_path(rel) + "' points to missing '" +
                      shorten_path(target) + "'");
    int dir_fd = cursor_->go(parent, true);
    make_writable(dir_fd, parent);
    clear_place(dir_fd, base, rel, false);
    if (linkat(tdir.get(), tbase.c_str(), dir_fd, base.c_str(), 0) != 0) fail_errno("create hard link", rel);
  }

  void whiteout(const std::string& parent, const std::string& base) {
    if (base == kOpaqueMarker) {
      if (options_.whiteouts == WhiteoutMode::kOverlay) {
        make_overlay_opaque(cursor_->go(parent, true));
      } else if (cursor_->go(parent, false) >= 0) {
        clear_older(parent);
      }
      return;
    }
    std::string name = base.substr(kWhiteoutPrefix.size());
    if (name.starts_with(kWhiteoutPrefix) || name.empty() || name == "." || name == "..") {
      log::debug("{}: skipping whiteout metadata {}", name_, base);
      return;
    }
    if (options_.whiteouts == WhiteoutMode::kOverlay) {
      int dir_fd = cursor_->go(parent, true);
      make_overlay_whiteout(dir_fd, name);
      own(dir_fd, name);
    } else {
      std::string rel = parent.empty() ? name : parent + "/" + name;
      int dir_fd = cursor_->go(parent, false);
      if (dir_fd >= 0 && !written_by_us(rel)) {
        make_writable(dir_fd, parent);
        remove_tree_at(dir_fd, name);
        forget_fixups(rel);
      }
    }
  }

  // Whether this layer wrote rel itself or something below it.
  bool written_by_us(const std::string& rel) const {
    auto it = written_.lower_bound(rel);
    return it != written_.end() && (*it == rel || it->starts_with(rel + "/"));
  }

  // Removes what older layers left in directory rel, keeping this layer's entries. Recurses into
  // directories this layer wrote into, holding no fd across the recursion.
  void clear_older(const std::string& rel) {
    std::vector<std::pair<std::string, bool>> children;  // name, is a directory
    {
      int dir_fd = cursor_->go(rel, false);
      if (dir_fd < 0) return;
      UniqueFd dup(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
      DIR* d = fdopendir(dup.get());
      if (d == nullptr) throw_errno("opendir " + shorten_path(rel));
      dup.release();
      while (dirent* de = readdir(d)) {
        std::string n = de->d_name;
        if (n != "." && n != "..") children.emplace_back(n, de->d_type == DT_DIR);
      }
      closedir(d);
    }
    for (const auto& [n, is_dir] : children) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      if (!written_by_us(child)) {
        int dir_fd = cursor_->go(rel, false);
        make_writable(dir_fd, rel);
        remove_tree_at(dir_fd, n);
        forget_fixups(child);
      } else if (is_dir) {
        clear_older(child);
      }
    }
  }

  // Gives directories their modes and times, deepest first (a parent's mtime is set after its
  // entries changed; a mode without write or search permission comes last). Each is opened from
  // its parent, never entered, so a mode like 0000 cannot stop the walk.
  void finish_dirs() {
    for (auto it = fixups_.rbegin(); it != fixups_.rend(); ++it) {
      const auto& [rel, fix] = *it;
      auto [parent, base] = split_parent(rel);
      int parent_fd = cursor_->go(parent, false);
      if (parent_fd < 0) continue;
      UniqueFd dir(openat(parent_fd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dir.valid()) continue;  // replaced by a file or symlink meanwhile
      check_sys(fchmod(dir.get(), fix.mode), "chmod " + shorten_path(rel));
      if (fix.mtime) {
        struct timespec ts[2] = {*fix.mtime, *fix.mtime};
        (void)futimens(dir.get(), ts);
      }
    }
  }

  std::string name_;
  fs::path dest_;
  ExtractOptions options_;
  LayerBudget budget_;
  UniqueFd dest_fd_;
  std::optional<DirCursor> cursor_;
  std::map<std::string, DirFixup> fixups_;
  std::set<std::string> written_;
};

}  // namespace

std::string normalize_entry_name(std::string_view name, const std::string& tar_name) {
  std::string out;
  for (std::string_view comp : path_components(name)) {
    if (comp == "..")
      throw UserError(tar_name + ": entry '" + shorten_path(name) +
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
  extract_tar_fd(fd.get(), "layer tar " + tar.string(), dest, options);
}

}  // namespace mael
