#pragma once
// How an OCI whiteout is stored in an extracted layer so that kernel overlayfs,
// mounted by an unprivileged user in a user namespace (option "userxattr"),
// honours it. Kept in one place so the on-disk format is easy to change.
#include <string_view>

namespace mael {

// ".wh.NAME" in directory dirfd: NAME of lower layers is deleted. Stored as a
// character device 0/0 named NAME (unprivileged mknod of 0/0 is allowed since
// Linux 5.8). An existing NAME of this same layer is left alone: it already
// hides the lower one.
void make_overlay_whiteout(int dirfd, std::string_view name);

// ".wh..wh..opq" in a directory: its lower layers' contents are hidden. Stored as
// xattr user.overlay.opaque=y (what "userxattr" overlay mounts read), plus
// trusted.overlay.opaque=y when we are privileged enough to set it.
void make_overlay_opaque(int dirfd);

}  // namespace mael
