#include "cluster/upload_ticket.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace mael::cluster {

UploadTickets::UploadTickets() {
  if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1)
    throw std::runtime_error("cannot draw a random key for upload tickets");
}

std::string UploadTickets::issue(uint64_t client, const Digest& d) const {
  unsigned char msg[8 + 32];
  for (int i = 0; i < 8; ++i) msg[i] = static_cast<unsigned char>(client >> (8 * i));
  std::copy(d.bytes().begin(), d.bytes().end(), msg + 8);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), msg, sizeof msg, mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

bool UploadTickets::valid(uint64_t client, const Digest& d, const std::string& ticket) const {
  std::string want = issue(client, d);
  return ticket.size() == want.size() && CRYPTO_memcmp(ticket.data(), want.data(), want.size()) == 0;
}

}  // namespace mael::cluster
