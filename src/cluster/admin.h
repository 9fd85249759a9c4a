#pragma once
// The admin tool's calls to a broker.
#include <string>

#include "cluster/security.h"

namespace mael::cluster {

// The broker's status document (JSON, as served at /api/status). Throws
// UserError naming the broker when it cannot be reached or refuses.
std::string admin_status(const std::string& broker, const TlsOptions& tls);
// Asks the broker to tell its workers to exit and to exit itself.
void admin_stop(const std::string& broker, const TlsOptions& tls);

}  // namespace mael::cluster
