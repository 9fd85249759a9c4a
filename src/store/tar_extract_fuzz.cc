// libFuzzer target: a layer tar (any compression) extracted into a fresh directory through the
// store's public API, as for a user's tar layer or a blob from a cluster peer. Bad input may only
// end in a UserError. The directories go under $TMPDIR (default /tmp; a tmpfs is faster).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/error.h"
#include "store/tar_extract.h"

namespace fs = std::filesystem;

namespace {

fs::path scratch_root() {
  const char* tmp = std::getenv("TMPDIR");
  fs::path root = fs::path(tmp && *tmp ? tmp : "/tmp") / ("tar_extract_fuzz." + std::to_string(getpid()));
  fs::create_directories(root);
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path root = scratch_root();
  int fd = memfd_create("fuzz.tar", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  lseek(fd, 0, SEEK_SET);
  fs::path dest = root / "layer";
  mael::ExtractOptions options;
  options.limits.max_bytes = 64 << 20;  // a small input must not fill the disk either
  options.limits.max_entries = 10'000;
  try {
    mael::extract_tar_fd(fd, "fuzz.tar", dest, options);
  } catch (const mael::UserError&) {
  }
  close(fd);
  // Extracted directories may have lost their write permission.
  std::error_code ec;
  fs::permissions(dest, fs::perms::owner_all, fs::perm_options::add, ec);
  for (auto it = fs::recursive_directory_iterator(dest, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(dest, ec);
  if (ec) std::abort();
  return 0;
}
