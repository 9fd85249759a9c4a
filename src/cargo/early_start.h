#pragma once
// Tests started from the last build's binaries before cargo has checked them (last_build.h).
// While cargo works, the binaries it reports are kept back. When it ends having rebuilt
// nothing, each early binary it reported fresh, whose file is still the one recorded, has its
// results confirmed, and the rest are handled as usual. At the first sign of compiling every
// early result is dropped and the early jobs cancelled (no other job runs yet then).
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "cargo/cargo_build.h"
#include "cargo/last_build.h"
#include "runner/run_loop.h"

namespace mael {

class EarlyStart {
 public:
  // `cancel_jobs` cancels every job of the run.
  EarlyStart(TestRun& run, std::function<void()> cancel_jobs);

  // The binary's cases were added to the run under `hold`. False (and the hold dropped) when
  // cargo has already been seen compiling: start no more.
  bool started(const BuiltTestBinary& binary, TestRun::HoldId hold);
  size_t binaries() const;

  // Something is being compiled: drop the early results. Thread-safe; only the first call acts.
  void give_up();
  // While cargo's verdict is awaited, keeps `ready` back and returns true; after, moves what
  // was kept back into `ready` and returns false.
  bool keep_back(std::vector<TestArtifact>& ready);
  // cargo ended well, having `rebuilt` something or not: confirms what can be, and returns the
  // artifacts to handle as usual.
  std::vector<TestArtifact> settle(bool rebuilt);

 private:
  void drop_all();  // under mu_

  struct Early {
    std::string signature;
    TestRun::HoldId hold;
  };
  TestRun& run_;
  std::function<void()> cancel_jobs_;
  mutable std::mutex mu_;
  bool waiting_ = true;
  std::map<std::filesystem::path, Early> early_;  // by executable
  std::vector<TestArtifact> kept_;
};

}  // namespace mael
