#pragma once
// Extracting a layer tar (plain or with any compression new_tar_reader takes) into a directory.
// The tar is hostile (a user's file, or a blob from a cluster peer):
// - every entry is created through directory fds below dest, one name at a time (tree_walk.h):
//   nothing is ever written through a symlink, names of any length and depth work, and the
//   process's working directory is never changed (libarchive's own disk writer chdirs for long
//   names, which races with other threads: it is not used);
// - entries with ".." are rejected, absolute names are taken relative to dest;
// - the layer's expanded size and entry count are bounded (layer_budget.h) and checked as it is
//   read: past the bound, extraction stops with an error naming the layer;
// - files belong to us, or to options.owner (every entry and dest itself lchown'd to it); modes
//   are kept except setuid/setgid; symlinks and in-layer hard links are kept; device nodes,
//   fifos and sockets are skipped (the container binds the host's devices instead); extended
//   attributes are not restored.
// A later entry of the same name replaces an earlier one (a directory stays a directory).
#include <filesystem>
#include <optional>
#include <string>

#include "store/fs_util.h"
#include "store/layer_budget.h"

namespace mael {

enum class WhiteoutMode {
  // Convert OCI whiteouts to overlayfs' format (see whiteout.h): for trees that
  // are stacked with overlayfs.
  kOverlay,
  // Apply them to what dest already holds (delete NAME / the opaque dir's older
  // contents): for squashing several layers into one tree.
  kApply,
};

struct ExtractOptions {
  WhiteoutMode whiteouts = WhiteoutMode::kOverlay;
  // When set, every extracted entry, and dest, is lchown'd to it (needs the privilege to).
  std::optional<FileOwner> owner;
  LayerLimits limits;
  // What limits.max_bytes is and how to raise it, for the error: "the cache size; raise
  // --cache-size".
  std::string bytes_hint = "the limit for one layer";
};

// dest is created when missing. Throws UserError("NAME: ...") for a corrupt or hostile archive or
// one over the limits; what it extracted stays in dest (the caller extracts into a temporary
// directory and removes it).
void extract_tar(const std::filesystem::path& tar, const std::filesystem::path& dest,
                 const ExtractOptions& options = {});
// Same, reading from an open fd; `name` ("layer tar FILE", "layer sha256:...") starts each error.
void extract_tar_fd(int fd, const std::string& name, const std::filesystem::path& dest,
                    const ExtractOptions& options = {});

// The normalized relative form of a tar entry name: leading '/' and "."
// components dropped; "" for the root. Throws UserError("TAR_NAME: entry ...") when it
// contains "..".
std::string normalize_entry_name(std::string_view name, const std::string& tar_name);

}  // namespace mael
