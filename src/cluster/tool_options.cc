#include "cluster/tool_options.h"

#include <cstdlib>

namespace mael::cluster {

void add_tls_config(ConfigLoader& loader, bool broker_side) {
  loader.add(
      {.name = "tls-ca",
       .type = ConfigType::String,
       .help = broker_side
                   ? "PEM CA certificate: require clients and workers to present a certificate it signed"
                   : "PEM CA certificate that signed the broker's certificate; turns TLS on",
       .value_name = "FILE"});
  loader.add({.name = "tls-cert",
              .type = ConfigType::String,
              .help = broker_side ? "PEM certificate of the broker; turns TLS on"
                                  : "PEM client certificate (mutual TLS)",
              .value_name = "FILE"});
  loader.add({.name = "tls-key",
              .type = ConfigType::String,
              .help = "PEM private key of --tls-cert",
              .value_name = "FILE"});
  loader.add({.name = "token-file",
              .type = ConfigType::String,
              .help = broker_side ? "file whose first line is a shared secret every peer must present"
                                  : "file whose first line is the broker's shared secret",
              .value_name = "FILE"});
}

TlsOptions tls_from_config(const Config& config) {
  TlsOptions t;
  t.ca_file = config.get_optional_string("tls-ca").value_or("");
  t.cert_file = config.get_optional_string("tls-cert").value_or("");
  t.key_file = config.get_optional_string("tls-key").value_or("");
  if (auto f = config.get_optional_string("token-file")) t.token = read_token_file(*f);
  return t;
}

std::string default_cache_root(const std::string& what) {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/maelstrom/" + what;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/maelstrom/" + what;
}

}  // namespace mael::cluster
