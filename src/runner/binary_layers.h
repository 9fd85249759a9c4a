#pragma once
// The layers every job of one test binary gets: the binary itself at the container's root, and
// its shared libraries. The libraries are looked up once per binary (reading ELF files and
// ld.so.cache) and handed to the client as a plain paths layer, so that the per-test work is a
// few stat calls rather than a new library search for every test.
#include <filesystem>
#include <mutex>
#include <optional>

#include "layers/shared_libraries.h"
#include "spec/spec.h"

namespace mael {

// `/NAME` in the container: the binary with its directory stripped.
LayerSpec test_binary_layer(const std::filesystem::path& exe);

class TestBinaryLayers {
 public:
  // `resolver` must outlive this object; `exe` is the test binary.
  TestBinaryLayers(const SharedLibraryResolver& resolver, std::filesystem::path exe);
  const LayerSpec& binary() const { return binary_; }
  // The libraries (and the program interpreter), as the loader finds them on this machine, at
  // their paths, symlinks followed. Resolved on first use. When they cannot be resolved, the
  // shared_library_dependencies layer itself, so that the client reports the problem as each
  // test's error, as it would without this shortcut.
  const LayerSpec& shared_libraries();

 private:
  const SharedLibraryResolver& resolver_;
  std::filesystem::path exe_;
  LayerSpec binary_;
  // A mutex, not std::once_flag: an exception cannot unwind through pthread_once in our static
  // binaries (it aborts).
  std::mutex mu_;
  std::optional<LayerSpec> libraries_;
};

// A resolver searching as the client's layer builder does (LD_LIBRARY_PATH of this process,
// /etc/ld.so.cache).
SharedLibraryResolver make_shared_library_resolver();

}  // namespace mael
