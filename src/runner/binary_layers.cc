#include "runner/binary_layers.h"

#include <cstdlib>

#include "base/error.h"

namespace mael {

LayerSpec test_binary_layer(const std::filesystem::path& exe) {
  PathsLayer l;
  l.paths = {exe.string()};
  l.prefix.strip_prefix = exe.parent_path().string();
  l.synthetic_mtimes = true;  // a byte-identical rebuild is the same layer (cached results)
  return l;
}

TestBinaryLayers::TestBinaryLayers(const SharedLibraryResolver& resolver, std::filesystem::path exe)
    : resolver_(resolver), exe_(std::move(exe)), binary_(test_binary_layer(exe_)) {}

const LayerSpec& TestBinaryLayers::shared_libraries() {
  std::lock_guard lk(mu_);
  if (libraries_) return *libraries_;
  try {
    PathsLayer l;
    for (const auto& lib : resolver_.resolve({exe_})) l.paths.push_back(lib.string());
    l.prefix.follow_symlinks = true;
    libraries_ = std::move(l);
  } catch (const UserError&) {
    SharedLibraryDependenciesLayer l;
    l.binary_paths = {exe_.string()};
    l.prefix.follow_symlinks = true;
    libraries_ = std::move(l);
  }
  return *libraries_;
}

SharedLibraryResolver make_shared_library_resolver() {
  const char* p = std::getenv("LD_LIBRARY_PATH");
  return SharedLibraryResolver(LibrarySearchOptions{p ? p : "", "/etc/ld.so.cache", {}});
}

}  // namespace mael
