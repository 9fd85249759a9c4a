#pragma once
// SHA-256 digests: the content address of every artifact.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace mael {

class Digest {
 public:
  Digest() = default;
  explicit Digest(const std::array<uint8_t, 32>& bytes) : bytes_(bytes) {}
  // Parses 64 hex digits, optionally prefixed by "sha256:". Throws UserError.
  static Digest from_hex(std::string_view hex);
  static Digest of_bytes(std::string_view data);
  static Digest of_file(const std::filesystem::path& path);
  std::string hex() const;
  const std::array<uint8_t, 32>& bytes() const { return bytes_; }
  auto operator<=>(const Digest&) const = default;

 private:
  std::array<uint8_t, 32> bytes_{};
};

// Incremental hashing.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  Digest finish();

 private:
  void* ctx_;
};

}  // namespace mael

template <>
struct std::hash<mael::Digest> {
  size_t operator()(const mael::Digest& d) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= 32);
    __builtin_memcpy(&h, d.bytes().data(), sizeof(h));
    return h;
  }
};
