#include "cargo/early_start.h"

#include "base/file_signature.h"

namespace mael {

EarlyStart::EarlyStart(TestRun& run, std::function<void()> cancel_jobs)
    : run_(run), cancel_jobs_(std::move(cancel_jobs)) {}

bool EarlyStart::started(const BuiltTestBinary& binary, TestRun::HoldId hold) {
  std::lock_guard lk(mu_);
  if (!waiting_) {
    run_.drop_hold(hold);
    return false;
  }
  early_[binary.executable] = {binary.signature, hold};
  return true;
}

size_t EarlyStart::binaries() const {
  std::lock_guard lk(mu_);
  return early_.size();
}

void EarlyStart::drop_all() {
  waiting_ = false;
  for (const auto& [exe, e] : early_) run_.drop_hold(e.hold);
  // Under mu_: nothing else is submitted before keep_back() has said that waiting is over.
  if (!early_.empty() && cancel_jobs_) cancel_jobs_();
}

void EarlyStart::give_up() {
  std::lock_guard lk(mu_);
  if (waiting_) drop_all();
}

bool EarlyStart::keep_back(std::vector<TestArtifact>& ready) {
  std::lock_guard lk(mu_);
  if (waiting_) {
    for (auto& a : ready) kept_.push_back(std::move(a));
    ready.clear();
    return true;
  }
  for (auto& a : ready) kept_.push_back(std::move(a));
  ready = std::move(kept_);
  kept_.clear();
  return false;
}

std::vector<TestArtifact> EarlyStart::settle(bool rebuilt) {
  std::lock_guard lk(mu_);
  std::vector<TestArtifact> rest;
  if (waiting_ && rebuilt) drop_all();
  if (!waiting_) {
    rest = std::move(kept_);
    kept_.clear();
    return rest;
  }
  waiting_ = false;
  std::map<std::filesystem::path, bool> confirmed;
  for (auto& a : kept_) {
    auto it = early_.find(a.executable);
    int64_t changed = 0;
    if (it != early_.end() && a.fresh && file_signature(a.executable, &changed) == it->second.signature &&
        run_.confirm_hold(it->second.hold)) {
      confirmed[a.executable] = true;
      continue;
    }
    rest.push_back(std::move(a));
  }
  kept_.clear();
  // Early binaries this build no longer has: their jobs end unseen.
  for (const auto& [exe, e] : early_)
    if (!confirmed.count(exe)) run_.drop_hold(e.hold);
  return rest;
}

}  // namespace mael
