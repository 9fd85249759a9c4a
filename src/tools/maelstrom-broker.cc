// maelstrom-broker: the cluster's scheduler and artifact relay, with a status
// web page. Prints "listening on port P" (and the web page's port) on stdout
// once it accepts connections.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "base/config.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "cluster/broker.h"
#include "cluster/tool_options.h"

namespace mael {
namespace {

constexpr const char* kProgram = "maelstrom-broker";

int main_impl(int argc, char** argv) {
  CLI::App app{"The Maelstrom cluster's broker: schedules jobs onto workers and relays artifacts.", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("--version", "maelstrom-broker 0.1.0");
    ConfigLoader loader(program_config_info(kProgram), app);
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
    loader.add({.name = "cache-root",
                .type = ConfigType::String,
                .help = "directory of the artifact cache",
                .default_value = cluster::default_cache_root("broker"),
                .value_name = "DIR"});
    loader.add({.name = "cache-size",
                .type = ConfigType::Size,
                .help = "target disk space of the cache",
                .default_value = "1 GB",
                .value_name = "BYTES"});
    loader.add({.name = "heartbeat-timeout",
                .type = ConfigType::Duration,
                .help = "drop a worker not heard from for this long",
                .default_value = "15s"});
    cluster::add_tls_config(loader, true);
    app.parse(argc, argv);
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());

    cluster::BrokerOptions o;
    o.port = config.get_int("port");
    o.http_port = config.get_int("http-port");
    o.cache_root = config.get_string("cache-root");
    o.cache_size = config.get_size("cache-size");
    o.heartbeat_timeout = config.get_duration("heartbeat-timeout");
    o.tls = cluster::tls_from_config(config);
    if (!o.tls.token.empty() && !o.tls.tls())
      spdlog::warn("a token without TLS travels in clear text: give the broker --tls-cert and --tls-key");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    cluster::Broker broker(o);
    std::printf("listening on port %u; web page on port %u\n", broker.port(), *broker.http_port());
    std::fflush(stdout);
    spdlog::info("listening on port {}, web page on http port {}, cache {}", broker.port(),
                 *broker.http_port(), o.cache_root.string());
    std::thread([&broker, set] {
      int sig = 0;
      sigwait(&set, &sig);
      spdlog::info("stopping on signal {}", sig);
      broker.stop();
    }).detach();
    broker.wait();
    spdlog::info("stopped");
    return 0;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
