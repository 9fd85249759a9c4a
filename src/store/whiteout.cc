#include "store/whiteout.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <string>

#include "base/error.h"

namespace mael {

void make_overlay_whiteout(int dirfd, std::string_view name) {
  std::string n(name);
  if (mknodat(dirfd, n.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0 && errno != EEXIST)
    throw_errno("mknod whiteout " + n);
}

void make_overlay_opaque(int dirfd) {
  if (fsetxattr(dirfd, "user.overlay.opaque", "y", 1, 0) != 0) throw_errno("setxattr user.overlay.opaque");
  // Only a privileged (initial-namespace) caller may set trusted.*; best effort.
  (void)fsetxattr(dirfd, "trusted.overlay.opaque", "y", 1, 0);
}

}  // namespace mael
