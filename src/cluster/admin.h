#pragma once
// The admin tool's calls to a broker.
#include <cstdint>
#include <string>

#include "cluster/security.h"

namespace mael::cluster {

// The broker's status document (JSON, as served at /api/status). Throws
// UserError naming the broker when it cannot be reached or refuses.
// protocol_version: 0 is ours; tests set another to check the refusal.
std::string admin_status(const std::string& broker, const TlsOptions& tls, uint32_t protocol_version = 0);
// Asks the broker to tell its workers to exit and to exit itself.
void admin_stop(const std::string& broker, const TlsOptions& tls, uint32_t protocol_version = 0);

}  // namespace mael::cluster
