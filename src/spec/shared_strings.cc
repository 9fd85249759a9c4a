#include "spec/shared_strings.h"

#include "base/digest.h"

namespace mael {

SharedStrings::SharedStrings(std::vector<std::string> items) : block_(std::make_shared<Block>()) {
  block_->items = std::move(items);
}

std::vector<std::string>& SharedStrings::mutate() {
  if (block_.use_count() > 1) {
    auto own = std::make_shared<Block>();
    own->items = block_->items;
    block_ = std::move(own);
  } else {
    std::lock_guard lk(block_->mu);
    block_->digest.clear();
  }
  return block_->items;
}

const std::string& SharedStrings::digest() const {
  std::lock_guard lk(block_->mu);
  if (block_->digest.empty()) {
    Sha256 h;
    for (const auto& s : block_->items) {
      std::string len = std::to_string(s.size()) + ":";
      h.update(len);
      h.update(s);
    }
    block_->digest = h.finish().hex();
  }
  return block_->digest;
}

}  // namespace mael
