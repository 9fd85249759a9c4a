#pragma once
// Extracting a layer tar (any compression libarchive detects: none, gzip, zstd,
// xz, bzip2) into a directory, as the caller: files belong to us (no chown),
// modes are kept except setuid/setgid, symlinks and in-layer hard links are
// kept, device nodes / fifos / sockets are skipped (they cannot be created
// unprivileged; the container binds the host's devices instead). Entries with
// ".." are rejected and absolute names are taken relative to dest; nothing is
// ever written through a symlink.
#include <filesystem>
#include <string>

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
};

// dest is created when missing. Throws UserError("layer tar NAME: ...") for a
// corrupt or hostile archive.
void extract_tar(const std::filesystem::path& tar, const std::filesystem::path& dest,
                 const ExtractOptions& options = {});
// Same, reading from an open fd; `name` only appears in error messages.
void extract_tar_fd(int fd, const std::string& name, const std::filesystem::path& dest,
                    const ExtractOptions& options = {});

// The normalized relative form of a tar entry name: leading '/' and "."
// components dropped; "" for the root. Throws UserError when it contains "..".
std::string normalize_entry_name(std::string_view name, const std::string& tar_name);

}  // namespace mael
