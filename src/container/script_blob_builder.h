#pragma once
// Writes the relocatable blob the container's init reads (script_blob.h).
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace mael::child {

class BlobBuilder {
 public:
  BlobBuilder();
  // n zeroed bytes aligned to `align`; returns their offset.
  size_t alloc(size_t n, size_t align);
  // A NUL-terminated copy of s; returns its offset.
  size_t string(std::string_view s);
  // A nullptr-terminated array of pointers to copies of the strings.
  size_t string_array(const std::vector<std::string>& strings);
  // Makes the pointer field at `field` point to the offset `target`.
  void pointer(size_t field, size_t target);
  template <typename T>
  void put(size_t offset, const T& value) {
    std::memcpy(data_.data() + offset, &value, sizeof value);
  }
  // The blob, with its relocation table and header.
  std::vector<char> finish() &&;

 private:
  std::vector<char> data_;
  std::vector<uint64_t> relocs_;
};

}  // namespace mael::child
