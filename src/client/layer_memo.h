#pragma once
// The layers a client has built, by layer spec, for the client's lifetime (one run of a test
// runner or of maelstrom-run, as Maelstrom's client builds each distinct layer spec once per
// process). Every test of a test binary names the same few layers, so after the first job of a
// binary resolving its layers costs a hash lookup instead of stat calls, a memo file read and a
// blob touch per layer. An input edited during the run is therefore not picked up before the
// next run (a new client plans the layer again and sees the change) or a clear().
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/digest.h"
#include "spec/spec.h"

namespace mael {

// A string that identifies the spec: equal exactly for equal specs.
std::string layer_spec_key(const LayerSpec& spec);

class LayerMemo {
 public:
  using Build = std::function<Digest()>;
  using StillValid = std::function<bool(const Digest&)>;

  // The spec's digest: build() runs for the first request of a spec, and again when a memoized
  // digest is no longer still_valid (e.g. its blob was evicted from the store). Concurrent
  // requests of one spec wait for a single build. A build that throws is not memoized: the
  // exception goes to the callers waiting for that build, the next request builds again.
  Digest get(const LayerSpec& spec, const Build& build, const StillValid& still_valid);

  size_t size() const;
  // Forgets every digest: the next request of each spec builds it again (its inputs may have
  // changed since, e.g. rebuilt by the build tool during the run).
  void clear();

 private:
  struct Entry {
    std::shared_future<Digest> digest;
    uint64_t generation = 0;  // tells a rebuilt entry from the one a caller saw
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> memo_;
  uint64_t generation_ = 0;
};

}  // namespace mael
