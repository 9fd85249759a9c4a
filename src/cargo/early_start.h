#pragma once
// Tests started from the last build's binaries before cargo has checked them (last_build.h).
// While cargo works, the binaries it reports are kept back. When it ends having rebuilt
// nothing, each early binary it reported fresh, whose file is still the one recorded, has its
// results confirmed, and the rest are handled as usual. At the first sign of compiling every
// early hold is dropped (its jobs cancelled, its results forgotten).
//
// Only the test binary's own file is compared: other files the early jobs' layers read (a
// package binary under <build-dir> for an integration test, say) are trusted because cargo
// rebuilt nothing.
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "cargo/cargo_build.h"
#include "cargo/cargo_metadata.h"
#include "cargo/last_build.h"
#include "runner/run_loop.h"

namespace mael {

// The artifact the record names among the selected packages, if it is still a test target.
std::optional<TestArtifact> recorded_artifact(const BuiltTestBinary& binary,
                                              const std::vector<const CargoPackage*>& selected);

class EarlyStart {
 public:
  explicit EarlyStart(TestRun& run);

  // A hold for the binary's cases, or nullopt once cargo has been seen compiling (start no
  // more then).
  std::optional<TestRun::HoldId> begin(const BuiltTestBinary& binary);
  // How many binaries began early.
  size_t binaries() const;

  // Something is being compiled: drop every early hold. Thread-safe; only the first call acts.
  void give_up();
  // While cargo's verdict is awaited, keeps `ready` back and returns true; after, moves what
  // was kept back into `ready` and returns false.
  bool keep_back(std::vector<TestArtifact>& ready);
  // cargo ended well, having `rebuilt` something or not: confirms what can be, drops the other
  // holds, and returns the artifacts to handle as usual.
  std::vector<TestArtifact> settle(bool rebuilt);

 private:
  void drop_all();  // under mu_

  struct Early {
    std::string signature;
    TestRun::HoldId hold;
  };
  TestRun& run_;
  mutable std::mutex mu_;
  bool waiting_ = true;
  std::map<std::filesystem::path, Early> early_;  // by executable
  std::vector<TestArtifact> kept_;
};

}  // namespace mael
