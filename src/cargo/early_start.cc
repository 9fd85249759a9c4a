#include "cargo/early_start.h"

#include <algorithm>
#include <set>

#include "base/file_signature.h"

namespace mael {

std::optional<TestArtifact> recorded_artifact(const BuiltTestBinary& binary,
                                              const std::vector<const CargoPackage*>& selected) {
  auto pkg = std::find_if(selected.begin(), selected.end(),
                          [&](const CargoPackage* p) { return p->name == binary.package; });
  if (pkg == selected.end()) return std::nullopt;
  for (const CargoTarget& t : (*pkg)->targets)
    if (t.test && artifact_key(t) == binary.target) return TestArtifact{*pkg, t, binary.executable, false};
  return std::nullopt;
}

EarlyStart::EarlyStart(TestRun& run) : run_(run) {}

std::optional<TestRun::HoldId> EarlyStart::begin(const BuiltTestBinary& binary) {
  std::lock_guard lk(mu_);
  if (!waiting_) return std::nullopt;
  TestRun::HoldId hold = run_.new_hold();
  early_[binary.executable] = {binary.signature, hold};
  return hold;
}

size_t EarlyStart::binaries() const {
  std::lock_guard lk(mu_);
  return early_.size();
}

void EarlyStart::drop_all() {
  waiting_ = false;
  for (const auto& [exe, e] : early_) run_.drop_hold(e.hold);
}

void EarlyStart::give_up() {
  std::lock_guard lk(mu_);
  if (waiting_) drop_all();
}

bool EarlyStart::keep_back(std::vector<TestArtifact>& ready) {
  std::lock_guard lk(mu_);
  for (auto& a : ready) kept_.push_back(std::move(a));
  ready.clear();
  if (waiting_) return true;
  ready.swap(kept_);
  return false;
}

std::vector<TestArtifact> EarlyStart::settle(bool rebuilt) {
  std::lock_guard lk(mu_);
  std::vector<TestArtifact> rest;
  if (waiting_ && rebuilt) drop_all();
  if (!waiting_) {
    rest.swap(kept_);
    return rest;
  }
  waiting_ = false;
  std::set<std::filesystem::path> confirmed;
  for (auto& a : kept_) {
    auto it = early_.find(a.executable);
    if (it != early_.end() && a.fresh && file_signature(a.executable) == it->second.signature &&
        run_.confirm_hold(it->second.hold)) {
      confirmed.insert(a.executable);
      continue;
    }
    rest.push_back(std::move(a));
  }
  kept_.clear();
  // Early binaries changed since, or no longer in the build.
  for (const auto& [exe, e] : early_)
    if (!confirmed.count(exe)) run_.drop_hold(e.hold);
  return rest;
}

}  // namespace mael
