#pragma once
// Small file-system helpers shared by the store and layer building.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace mael {

// Who extracted files belong to (lchown'd to), when not the caller.
struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  bool operator==(const FileOwner&) const = default;
};

// Removes a file or a directory tree of any depth (see tree_walk.h), also when directories in
// it lack write or search permission for us (extracted layers keep their modes, e.g. 0555).
// A missing path is not an error. Removes all it can, then throws std::runtime_error naming the
// first entry it could not remove.
void remove_tree(const std::filesystem::path& path);

// Disk space used by a tree of any depth (st_blocks), hard-linked files counted once.
uint64_t disk_usage(const std::filesystem::path& path);

// The components of a '/'-separated path, without empty and "." ones; ".." ones are kept (the
// caller decides what they mean). Views into `path`.
std::vector<std::string_view> path_components(std::string_view path);

// A path for a message (entry names in hostile tars can be thousands of characters long): its
// last 160 characters after "...", when longer.
std::string shorten_path(std::string_view path);

// Opens directory `rel` (a '/'-separated relative path, "" for base itself) below
// the directory open at base_fd, refusing to pass through symlinks. With create,
// missing directories are made (mode 0755). Returns an invalid fd when a component
// is missing (and !create); throws on a symlink or non-directory component.
UniqueFd open_dir_beneath(int base_fd, std::string_view rel, bool create);

}  // namespace mael
