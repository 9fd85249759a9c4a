#pragma once
// Binds an upload to the client session the broker asked for it: the
// ArtifactRequest carries a ticket, an HMAC of the client's id and the digest
// under a key the broker draws at start, and UploadBlob must present it. No
// other client can make one, so none can upload in another's name.
#include <array>
#include <cstdint>
#include <string>

#include "base/digest.h"

namespace mael::cluster {

class UploadTickets {
 public:
  UploadTickets();  // a fresh random key
  std::string issue(uint64_t client, const Digest& d) const;
  bool valid(uint64_t client, const Digest& d, const std::string& ticket) const;

 private:
  std::array<unsigned char, 32> key_;
};

}  // namespace mael::cluster
