#include "base/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "base/error.h"
#include "base/unique_fd.h"

namespace mael {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::update(const void* data, size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
}

Digest Sha256::finish() {
  std::array<uint8_t, 32> out;
  unsigned len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  return Digest(out);
}

Digest Digest::of_bytes(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

Digest Digest::of_file(const std::filesystem::path& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("open " + path.string());
  Sha256 h;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + path.string());
    }
    if (n == 0) break;
    h.update(buf, static_cast<size_t>(n));
  }
  return h.finish();
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Digest Digest::from_hex(std::string_view hex) {
  std::string_view orig = hex;
  if (hex.starts_with("sha256:")) hex.remove_prefix(7);
  if (hex.size() != 64) throw UserError("invalid SHA-256 digest '" + std::string(orig) + "': expected 64 hex digits");
  std::array<uint8_t, 32> b;
  for (size_t i = 0; i < 32; ++i) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw UserError("invalid SHA-256 digest '" + std::string(orig) + "': not hex");
    b[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return Digest(b);
}

std::string Digest::hex() const {
  static const char* d = "0123456789abcdef";
  std::string s(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    s[2 * i] = d[bytes_[i] >> 4];
    s[2 * i + 1] = d[bytes_[i] & 15];
  }
  return s;
}

}  // namespace mael
