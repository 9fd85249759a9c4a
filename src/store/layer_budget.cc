#include "store/layer_budget.h"

#include <utility>

#include "base/error.h"

namespace mael {

LayerBudget::LayerBudget(LayerLimits limits, std::string name, std::string bytes_hint)
    : limits_(limits), name_(std::move(name)), bytes_hint_(std::move(bytes_hint)) {}

void LayerBudget::add_entry() {
  if (++entries_ > limits_.max_entries)
    throw UserError(name_ + " has more than " + std::to_string(limits_.max_entries) +
                    " entries, the limit for one layer; split it into several layers");
  add_bytes(kBlock);
}

void LayerBudget::add_bytes(uint64_t n) {
  bytes_ = n > UINT64_MAX - bytes_ ? UINT64_MAX : bytes_ + n;
  if (bytes_ > limits_.max_bytes)
    throw UserError(name_ + " expands to more than " + size_text(limits_.max_bytes) + " (" + bytes_hint_ +
                    "); refused");
}

std::string size_text(uint64_t bytes) {
  // The units --cache-size is written in, when the number is whole in one.
  static const std::pair<uint64_t, const char*> kUnits[] = {
      {1'000'000'000'000, "TB"}, {1'000'000'000, "GB"}, {1'000'000, "MB"}, {1'000, "kB"}};
  for (const auto& [unit, name] : kUnits)
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + " " + name;
  return std::to_string(bytes) + " bytes";
}

}  // namespace mael
