#pragma once
// Configuration values shared by the cluster's programs (broker, worker,
// admin) and by clients that talk to a broker: TLS files and a shared token.
#include "base/config.h"
#include "cluster/security.h"

namespace mael::cluster {

// Declares tls-ca, tls-cert, tls-key and token-file.
void add_tls_config(ConfigLoader& loader, bool broker_side);
// Reads them back (the token from its file).
TlsOptions tls_from_config(const Config& config);

// $XDG_CACHE_HOME/maelstrom/<what> (default ~/.cache/maelstrom/<what>).
std::string default_cache_root(const std::string& what);

}  // namespace mael::cluster
