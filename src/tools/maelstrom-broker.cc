// maelstrom-broker: the cluster's scheduler and artifact relay, with a status
// web page. Prints "listening on port P" (and the web page's port) on stdout
// once it accepts connections.

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "cluster/broker.h"
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
  cluster::add_cache_config(loader, "broker");
  loader.add({.name = "heartbeat-timeout",
              .type = ConfigType::Duration,
              .help = "drop a worker not heard from for this long (at least the workers' heartbeat interval)",
              .default_value = "15s",
              .min_duration = cluster::kHeartbeatInterval});
}

int serve(const Config& config) {
  cluster::BrokerOptions o;
  o.port = config.get_int("port");
  o.http_port = config.get_int("http-port");
  o.cache_root = config.get_string("cache-root");
  o.cache_size = config.get_size("cache-size");
  o.heartbeat_timeout = config.get_duration("heartbeat-timeout");
  o.tls = cluster::tls_from_config(config);
  if (!o.tls.token.empty() && !o.tls.tls())
    log::warn("a token without TLS travels in clear text: give the broker --tls-cert and --tls-key");

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
