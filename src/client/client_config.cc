#include "client/client_config.h"

#include <cstdlib>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "cluster/tool_options.h"
#include "executor/job_limits_config.h"

namespace mael {

std::string xdg_cache_home() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return x;
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    throw UserError("neither XDG_CACHE_HOME nor HOME is set: set one, or pass --cache-root");
  return std::string(home) + "/.cache";
}

void add_client_config(ConfigLoader& loader, std::string_view cache_dir_name,
                       const std::string& project_cache) {
  cluster::add_cache_config(loader, std::string(cache_dir_name), project_cache);
  loader.add({.name = "cache-lock-wait",
              .type = ConfigType::Bool,
              .help = "when another process uses the cache directory, wait for it (saying so once) "
                      "instead of failing at once",
              .default_value = "true"});
  loader.add({.name = "inline-limit",
              .type = ConfigType::Size,
              .help = "bytes of each job's stdout and stderr to keep; the rest is counted as truncated",
              .default_value = "1 MB",
              .value_name = "BYTES"});
  loader.add({.name = "slots",
              .type = ConfigType::Int,
              .help = "jobs to run at once on this machine",
              .default_value = std::to_string(std::max(1u, std::thread::hardware_concurrency())),
              .value_name = "N",
              .min = 1,
              .max = 1000});
  loader.add({.name = "container-image-depot-root",
              .type = ConfigType::String,
              .help = "directory where container images are downloaded and kept",
              .default_value = xdg_cache_home() + "/maelstrom/container",
              .value_name = "PATH",
              .check = cluster::not_an_empty_path});
  loader.add({.name = "container-image-depot-size",
              .type = ConfigType::Size,
              .help = "target disk space for the container image depot; images no process uses are "
                      "evicted beyond it (0: no bound)",
              .default_value = "4 GB",  // kDefaultDepotSizeLimit
              .value_name = "BYTES"});
  // Named so that its environment variable is MAELSTROM_CONTAINER_INSECURE_REGISTRIES,
  // which the image depot also reads (comma-separated) for tools without this option.
  loader.add({.name = "container-insecure-registries",
              .type = ConfigType::List,
              .help = "container registries (HOST[:PORT] or HOST) reached over plain HTTP or TLS without "
                      "certificate checks; loopback registries may always use plain HTTP",
              .value_name = "HOST[:PORT]",
              .list_separators = ","});
  loader.add({.name = "accept-invalid-remote-container-tls-certs",
              .type = ConfigType::Bool,
              .help = "accept invalid TLS certificates from container registries",
              .default_value = "false"});
  add_job_limits_config(loader);
  cluster::add_broker_config(loader, "HOST:PORT of a cluster's broker; without it jobs run on this machine");
  // The broker's credentials: the same tls-ca, tls-cert, tls-key and token-file as a worker's.
  cluster::add_tls_config(loader, false);
}

ClientOptions client_options_from(const Config& config) {
  ClientOptions o;
  o.cache_root = config.get_optional_string("cache-root").value_or("");
  o.cache_size = config.get_size("cache-size");
  o.cache_lock_wait = config.get_bool("cache-lock-wait");
  o.inline_limit = config.get_size("inline-limit");
  o.slots = static_cast<size_t>(config.get_int("slots"));
  o.container_image_depot_root = config.get_string("container-image-depot-root");
  o.container_image_depot_size = config.get_size("container-image-depot-size");
  o.accept_invalid_remote_container_tls_certs = config.get_bool("accept-invalid-remote-container-tls-certs");
  // (Entries may also be comma-separated: the environment variable's historical form.)
  if (config.has("container-insecure-registries"))
    o.insecure_registries = config.get_list("container-insecure-registries");
  o.broker = config.get_optional_string("broker");
  o.job_limits = job_limits_from(config);
  job_host_ids_from(config, o.runtime);
  cluster::TlsOptions tls = cluster::tls_from_config(config);
  o.tls_ca = tls.ca_file;
  o.tls_cert = tls.cert_file;
  o.tls_key = tls.key_file;
  o.token = tls.token;
  return o;
}

}  // namespace mael
