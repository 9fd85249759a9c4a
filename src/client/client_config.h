#pragma once
// The configuration values every client program shares (Maelstrom's local
// worker, directory, image and broker settings), declared once for all tools.
#include <string_view>

#include "base/config.h"
#include "client/client.h"

namespace mael {

// Declares cache-root, cache-size, inline-limit, slots, container-image-depot-root,
// accept-invalid-remote-container-tls-certs, broker, and the broker's
// credentials tls-ca, tls-cert, tls-key and token-file. `cache_dir_name` picks
// the default cache root: $XDG_CACHE_HOME/maelstrom/<dir>; a test runner whose
// cache lives in the project gives `project_cache` instead (see add_cache_config),
// and ClientOptions::cache_root stays empty unless the user gives one.
void add_client_config(ConfigLoader& loader, std::string_view cache_dir_name,
                       const std::string& project_cache = "");

ClientOptions client_options_from(const Config& config);

// $XDG_CACHE_HOME, else ~/.cache.
std::string xdg_cache_home();

}  // namespace mael
