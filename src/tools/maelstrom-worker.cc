// maelstrom-worker: runs the broker's jobs in containers on this machine.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
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

// --fake-runner (benchmarks of the scheduler alone): no container; "sleep S"
// sleeps S seconds (cancellable), anything else exits 0 at once.
JobOutcome fake_run(const ContainerConfig& c, const CancelToken* cancel) {
  auto start = std::chrono::steady_clock::now();
  JobOutcome o{Exited{0}, {}};
  if (c.program.ends_with("sleep") && !c.arguments.empty()) {
    int ms = static_cast<int>(std::stod(c.arguments[0]) * 1000);
    pollfd p{cancel ? cancel->fd() : -1, POLLIN, 0};
    if (::poll(&p, cancel ? 1 : 0, ms) > 0) o.result = Signaled{9};
  }
  o.effects.duration = std::chrono::steady_clock::now() - start;
  return o;
}

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
    loader.add({.name = "broker",
                .type = ConfigType::String,
                .help = "HOST:PORT of the broker",
                .short_name = 'b',
                .value_name = "HOST:PORT"});
    loader.add({.name = "slots",
                .type = ConfigType::Int,
                .help = "jobs run at once (default: one per CPU)",
                .default_value = std::to_string(std::max(1u, std::thread::hardware_concurrency())),
                .value_name = "N",
                .min = 1,
                .max = 1000});
    loader.add({.name = "cache-root",
                .type = ConfigType::String,
                .help = "directory of the artifact cache",
                .default_value = cluster::default_cache_root("worker"),
                .value_name = "DIR"});
    loader.add({.name = "cache-size",
                .type = ConfigType::Size,
                .help = "target disk space of the cache",
                .default_value = "1 GB",
                .value_name = "BYTES"});
    loader.add(
        {.name = "inline-limit",
         .type = ConfigType::Size,
         .help = "bytes of a job's stdout and of its stderr sent back; the rest is counted as truncated",
         .default_value = "1 MB",
         .value_name = "BYTES"});
    loader.add({.name = "name",
                .type = ConfigType::String,
                .help = "name shown by the broker (default: host name)",
                .default_value = hostname()});
    cluster::add_tls_config(loader, false);
    uint32_t protocol_version = 0;
    bool fake_runner = false;
    app.add_option("--protocol-version", protocol_version)->group("");  // tests only
    app.add_flag("--fake-runner", fake_runner)->group("");              // scheduler benchmarks only
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

    if (!fake_runner) Runtime::check_support();
    std::filesystem::path root = config.get_string("cache-root");
    std::filesystem::create_directories(root);
    ArtifactStore store(root / "artifacts", config.get_size("cache-size"));
    std::optional<Runtime> runtime;
    if (!fake_runner) runtime.emplace(root / "runtime");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    cluster::Worker worker(o, store, [&runtime](const ContainerConfig& c, const CancelToken* t) {
      return runtime ? runtime->run(c, t) : fake_run(c, t);
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

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
