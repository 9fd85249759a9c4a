#include "container/script_blob_builder.h"

#include <cstdint>

#include "container/script_blob.h"

namespace mael::child {

// (Room for a typical script at once; assign, not alloc: GCC 12 at -O3 sees a
// resize of an empty vector as an out-of-bounds memmove.)
BlobBuilder::BlobBuilder() {
  data_.reserve(4096);
  data_.assign(sizeof(BlobHeader), 0);
}

size_t BlobBuilder::alloc(size_t n, size_t align) {
  size_t offset = (data_.size() + align - 1) / align * align;
  data_.resize(offset + n, 0);
  return offset;
}

size_t BlobBuilder::string(std::string_view s) {
  size_t offset = alloc(s.size() + 1, 1);
  std::memcpy(data_.data() + offset, s.data(), s.size());
  return offset;
}

size_t BlobBuilder::string_array(const std::vector<std::string>& strings) {
  size_t array = alloc((strings.size() + 1) * sizeof(uint64_t), alignof(uint64_t));
  for (size_t i = 0; i < strings.size(); ++i) pointer(array + i * sizeof(uint64_t), string(strings[i]));
  return array;
}

void BlobBuilder::pointer(size_t field, size_t target) {
  put<uint64_t>(field, target);
  relocs_.push_back(field);
}

std::vector<char> BlobBuilder::finish() && {
  size_t table = alloc(relocs_.size() * sizeof(uint64_t), alignof(uint64_t));
  if (!relocs_.empty()) std::memcpy(data_.data() + table, relocs_.data(), relocs_.size() * sizeof(uint64_t));
  put(0, BlobHeader{table, relocs_.size()});
  return std::move(data_);
}

}  // namespace mael::child
