// maelstrom-worker: runs the broker's jobs in containers on this machine.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "cluster/tool_options.h"
#include "cluster/worker.h"
#include "container/runtime.h"
#include "executor/job_limits_config.h"
#include "store/artifact_store.h"

namespace mael {
namespace {

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

struct Hidden {
  uint32_t protocol_version = 0;  // tests only
  bool fake_runner = false;       // scheduler benchmarks only
  int prepared_containers = -1;   // benchmarks only; -1: one per slot
};

void declare(CLI::App& app, ConfigLoader& loader, Hidden& hidden) {
  cluster::add_broker_config(loader);
  loader.add({.name = "slots",
              .type = ConfigType::Int,
              .help = "jobs run at once (default: one per CPU)",
              .default_value = std::to_string(std::max(1u, std::thread::hardware_concurrency())),
              .value_name = "N",
              .min = 1,
              .max = 1000});
  cluster::add_cache_config(loader, "worker");
  loader.add({.name = "inline-limit",
              .type = ConfigType::Size,
              .help = "bytes of a job's stdout and of its stderr sent back; the rest is counted as truncated",
              .default_value = "1 MB",
              .value_name = "BYTES",
              .max = static_cast<int64_t>(cluster::kMaxInlineLimit)});  // both fit one message
  loader.add({.name = "name",
              .type = ConfigType::String,
              .help = "name shown by the broker (default: host name)",
              .default_value = hostname()});
  loader.add({.name = "allow-bind-mounts",
              .type = ConfigType::List,
              .help = "host directories the broker's jobs may bind-mount (each with what is under it); "
                      "default: none, such jobs are refused",
              .value_name = "DIR"});
  loader.add(
      {.name = "allow-local-network",
       .type = ConfigType::Bool,
       .help = "run the broker's jobs with network = \"local\" (this host's network); default: refuse them",
       .default_value = "false"});
  add_job_limits_config(loader);
  app.add_option("--protocol-version", hidden.protocol_version)->group("");
  app.add_flag("--fake-runner", hidden.fake_runner)->group("");
  app.add_option("--prepared-containers", hidden.prepared_containers)->group("");
}

cluster::WorkerFeatures local_features(const Config& config) {
  cluster::WorkerFeatures f;
  f.local_network = config.get_bool("allow-local-network");
  for (const std::string& dir : config.get_list("allow-bind-mounts")) {
    std::error_code ec;
    if (!std::filesystem::path(dir).is_absolute())
      throw UserError(
          mael::format("allow-bind-mounts: '{}' is not an absolute path: give host directories", dir));
    if (!std::filesystem::is_directory(dir, ec))
      throw UserError(mael::format(
          "allow-bind-mounts: '{}' is not a directory on this host: create it or leave it out", dir));
    f.bind_mount_roots.push_back(std::filesystem::path(dir).lexically_normal().string());
  }
  return f;
}

int serve(const Config& config, const Hidden& hidden) {
  cluster::StopSignals signals;  // before the runtime starts its threads
  cluster::WorkerOptions o;
  o.broker = cluster::broker_from_config(config);
  o.name = config.get_string("name");
  o.slots = config.get_int("slots");
  o.inline_limit = config.get_size("inline-limit");
  o.tls = cluster::tls_from_config(config);
  o.protocol_version = hidden.protocol_version;
  o.features = local_features(config);
  o.limits = job_limits_from(config);
  RuntimeOptions runtime_options;
  job_host_ids_from(config, runtime_options);

  if (!hidden.fake_runner) Runtime::check_support();
  std::filesystem::path root = config.get_string("cache-root");
  std::filesystem::create_directories(root);
  // Jobs see their layers' files as their own (run as root: the jobs' host id).
  ArtifactStoreOptions store_options;
  store_options.owner = Runtime::tree_owner(runtime_options);
  ArtifactStore store(root / "artifacts", config.get_size("cache-size"), std::move(store_options));
  std::optional<Runtime> runtime;
  // One prepared container per slot: when several jobs end at once, each next
  // job still finds its namespaces made (off its path, while others run).
  size_t prepared = hidden.prepared_containers < 0 ? o.slots : hidden.prepared_containers;
  runtime_options.prepared_containers = prepared;
  if (!hidden.fake_runner) runtime.emplace(root / "runtime", runtime_options);

  cluster::Worker worker(o, store, [&runtime](const ContainerConfig& c, const CancelToken* t) {
    return runtime ? runtime->run(c, t) : fake_run(c, t);
  });
  signals.on_signal([&worker](int) { worker.stop(); });
  worker.run();
  log::info("stopped");
  return 0;
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  mael::Hidden hidden;
  return mael::cluster::run_cluster_tool(
      {"maelstrom-worker", "A Maelstrom cluster worker: runs the broker's jobs in containers.", false}, argc,
      argv, [&](CLI::App& app, mael::ConfigLoader& loader) { mael::declare(app, loader, hidden); },
      [&](const mael::Config& config) { return mael::serve(config, hidden); });
}
