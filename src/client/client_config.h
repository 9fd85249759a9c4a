#pragma once
// The configuration values every client program shares (Maelstrom's local
// worker, directory, image and broker settings), declared once for all tools.
#include <string_view>

#include "base/config.h"
#include "client/client.h"

namespace mael {

// Declares cache-root, cache-size, inline-limit, slots, container-image-depot-root,
// accept-invalid-remote-container-tls-certs, broker, and the broker's
// credentials tls-ca, tls-cert, tls-key and token-file. `program` picks the
// default cache root: $XDG_CACHE_HOME/maelstrom/<dir>.
void add_client_config(ConfigLoader& loader, std::string_view cache_dir_name);

ClientOptions client_options_from(const Config& config);

// $XDG_CACHE_HOME, else ~/.cache.
std::string xdg_cache_home();

}  // namespace mael
