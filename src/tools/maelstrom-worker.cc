// maelstrom-worker: runs the broker's jobs in containers on this machine.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "base/config.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "cluster/tool_options.h"
#include "cluster/worker.h"
#include "container/runtime.h"
#include "store/artifact_store.h"

namespace mael {
namespace {

constexpr const char* kProgram = "maelstrom-worker";

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) < 0) return "worker";
  return buf;
}

int main_impl(int argc, char** argv) {
  CLI::App app{"A Maelstrom cluster worker: runs the broker's jobs in containers.", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("--version", "maelstrom-worker 0.1.0");
    ConfigLoader loader(program_config_info(kProgram), app);
    loader.add({.name = "broker", .type = ConfigType::String, .help = "HOST:PORT of the broker", .short_name = 'b',
                .value_name = "HOST:PORT"});
    loader.add({.name = "slots", .type = ConfigType::Int, .help = "jobs run at once (default: one per CPU)",
                .default_value = std::to_string(std::max(1u, std::thread::hardware_concurrency())),
                .value_name = "N", .min = 1, .max = 1000});
    loader.add({.name = "cache-root", .type = ConfigType::String, .help = "directory of the artifact cache",
                .default_value = cluster::default_cache_root("worker"), .value_name = "DIR"});
    loader.add({.name = "cache-size", .type = ConfigType::Size, .help = "target disk space of the cache",
                .default_value = "1 GB", .value_name = "BYTES"});
    loader.add({.name = "inline-limit", .type = ConfigType::Size,
                .help = "bytes of a job's stdout and of its stderr sent back; the rest is counted as truncated",
                .default_value = "1 MB", .value_name = "BYTES"});
    loader.add({.name = "name", .type = ConfigType::String, .help = "name shown by the broker (default: host name)",
                .default_value = hostname()});
    cluster::add_tls_config(loader, false);
    uint32_t protocol_version = 0;
    app.add_option("--protocol-version", protocol_version)->group("");  // tests only
    app.parse(argc, argv);
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());
    auto broker = config.get_optional_string("broker");
    if (!broker) throw UserError("no broker given: pass --broker HOST:PORT");

    cluster::WorkerOptions o;
    o.broker = *broker;
    o.name = config.get_string("name");
    o.slots = config.get_int("slots");
    o.inline_limit = config.get_size("inline-limit");
    o.tls = cluster::tls_from_config(config);
    o.protocol_version = protocol_version;

    Runtime::check_support();
    std::filesystem::path root = config.get_string("cache-root");
    std::filesystem::create_directories(root);
    ArtifactStore store(root / "artifacts", config.get_size("cache-size"));
    Runtime runtime(root / "runtime");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    cluster::Worker worker(o, store, [&runtime](const ContainerConfig& c, const CancelToken* t) {
      return runtime.run(c, t);
    });
    std::thread([&worker, set] {
      int sig = 0;
      sigwait(&set, &sig);
      spdlog::info("stopping on signal {}", sig);
      worker.stop();
    }).detach();
    worker.run();
    spdlog::info("stopped");
    return 0;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) { return mael::main_impl(argc, argv); }
