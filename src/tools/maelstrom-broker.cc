// maelstrom-broker: the cluster's scheduler and artifact relay, with a status
// web page. Prints "listening on port P" (and the web page's port) on stdout
// once it accepts connections.

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "cluster/broker.h"
#include "cluster/http_server.h"
#include "cluster/tool_options.h"

namespace mael {
namespace {

void declare(CLI::App&, ConfigLoader& loader) {
  loader.add({.name = "port",
              .type = ConfigType::Int,
              .help = "port for clients and workers (0: any free port)",
              .default_value = "0",
              .short_name = 'p',
              .value_name = "PORT",
              .min = 0,
              .max = 65535});
  loader.add({.name = "http-port",
              .type = ConfigType::Int,
              .help = "port of the status web page (0: any free port)",
              .default_value = "0",
              .value_name = "PORT",
              .min = 0,
              .max = 65535});
  loader.add(
      {.name = "http-address",
       .type = ConfigType::String,
       .help = "address of the status web page: loopback unless given (0.0.0.0 or :: for every address)",
       .default_value = "127.0.0.1",
       .value_name = "ADDRESS",
       .check = cluster::http_address_problem});
  cluster::add_cache_config(loader, "broker");
  loader.add({.name = "heartbeat-timeout",
              .type = ConfigType::Duration,
              .help = "drop a worker not heard from for this long (at least the workers' heartbeat interval)",
              .default_value = "15s",
              .min_duration = cluster::kHeartbeatInterval});
  loader.add({.name = "no-worker-timeout",
              .type = ConfigType::Duration,
              .help = "fail queued jobs once no worker has been connected for this long (0: wait forever)",
              .default_value = "2m"});
  for (const char* role : {"worker", "client", "admin"})
    loader.add(
        {.name = mael::format("{}-token-file", role),
         .type = ConfigType::String,
         .help = mael::format("file whose first line is the token that gives a peer the {} role", role),
         .value_name = "FILE",
         .check = cluster::not_an_empty_path});
  loader.add({.name = "handshake-timeout",
              .type = ConfigType::Duration,
              .help = "close a connection that has not finished its handshake and started a call within this "
                      "long, or that has had no call for this long",
              .default_value = "10s",
              .min_duration = std::chrono::seconds(1)});
  loader.add({.name = "max-connections",
              .type = ConfigType::Int,
              .help = "connections open at once, in all (also bounded by the open-file limit)",
              .default_value = "4096",
              .value_name = "N",
              .min = 1});
  loader.add({.name = "max-connections-per-peer",
              .type = ConfigType::Int,
              .help = "connections open at once from one address",
              .default_value = "100",
              .value_name = "N",
              .min = 1});
  loader.add({.name = "max-uploads",
              .type = ConfigType::Int,
              .help = "layer uploads in progress at once, in all",
              .default_value = "16",
              .value_name = "N",
              .min = 1});
  loader.add({.name = "max-uploads-per-client",
              .type = ConfigType::Int,
              .help = "layer uploads in progress at once from one client",
              .default_value = "4",
              .value_name = "N",
              .min = 1});
  loader.add({.name = "max-upload-size",
              .type = ConfigType::Size,
              .help = "the largest layer a client may upload (default: cache-size)",
              .value_name = "BYTES"});
  loader.add({.name = "client-cache-limit",
              .type = ConfigType::Size,
              .help =
                  "cache space the layers one client uploaded may take while its jobs need them (default: "
                  "cache-size)",
              .value_name = "BYTES"});
}

cluster::BrokerAuth auth_from_config(const Config& config) {
  if (config.get_optional_string("token-file"))
    throw UserError(
        "token-file on the broker gave every peer every role: give it worker-token-file, client-token-file "
        "and "
        "admin-token-file instead (three different tokens), and each worker, client and admin its own as "
        "token-file");
  cluster::BrokerAuth a;
  auto token = [&](const char* key) {
    auto f = config.get_optional_string(key);
    return f ? cluster::read_token_file(*f) : std::string();
  };
  a.worker_token = token("worker-token-file");
  a.client_token = token("client-token-file");
  a.admin_token = token("admin-token-file");
  cluster::check_broker_auth(a);
  return a;
}

int serve(const Config& config) {
  cluster::BrokerOptions o;
  o.port = config.get_int("port");
  o.http_port = config.get_int("http-port");
  o.cache_root = config.get_string("cache-root");
  o.cache_size = config.get_size("cache-size");
  o.http_address = config.get_string("http-address");
  o.heartbeat_timeout = config.get_duration("heartbeat-timeout");
  o.no_worker_timeout = config.get_duration("no-worker-timeout");
  o.handshake_timeout = config.get_duration("handshake-timeout");
  o.connections.max_connections = config.get_int("max-connections");
  o.connections.max_per_peer = config.get_int("max-connections-per-peer");
  o.max_concurrent_uploads = config.get_int("max-uploads");
  o.max_uploads_per_client = config.get_int("max-uploads-per-client");
  if (config.has("max-upload-size")) o.max_upload_size = config.get_size("max-upload-size");
  if (config.has("client-cache-limit")) o.client_cache_limit = config.get_size("client-cache-limit");
  o.auth = auth_from_config(config);
  o.tls = cluster::tls_from_config(config);

  cluster::StopSignals signals;
  cluster::log_grpc_as_broker();
  cluster::Broker broker(o);
  std::printf("listening on port %u; web page on port %u\n", broker.port(), *broker.http_port());
  std::fflush(stdout);
  log::info("listening on port {}, web page on http port {}, cache {}", broker.port(), *broker.http_port(),
            o.cache_root.string());
  signals.on_signal([&broker](int sig) { broker.stop(mael::format("SIG{}", ::sigabbrev_np(sig))); });
  broker.wait();
  log::info("stopped");
  return 0;
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::cluster::run_cluster_tool(
      {"maelstrom-broker",
       "The Maelstrom cluster's broker: schedules jobs onto workers and relays artifacts.", true},
      argc, argv, mael::declare, mael::serve);
}
