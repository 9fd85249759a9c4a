// maelstrom-admin: shows a broker's status or stops the cluster.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/format.h"
#include "cluster/admin.h"
#include "cluster/tool_options.h"

namespace mael {
namespace {

void print_status(const std::string& json) {
  auto s = nlohmann::json::parse(json);
  size_t used = 0;
  for (const auto& w : s["workers"]) used += w["running"].get<size_t>();
  std::printf("workers: %zu\nslots: %zu used of %zu\nclients: %zu\n", s["workers"].size(), used,
              s["slots"].get<size_t>(), s["clients"].size());
  std::printf(
      "jobs: %zu waiting for artifacts, %zu queued, %zu on workers not yet running, %zu running, %llu "
      "completed\n",
      s["waiting_for_artifacts"].get<size_t>(), s["queued"].get<size_t>(), s["assigned"].get<size_t>(),
      s["running"].get<size_t>(), static_cast<unsigned long long>(s["completed"].get<uint64_t>()));
  for (const auto& w : s["workers"])
    std::printf("  worker %llu %s at %s: %zu slots, %zu assigned, %zu running\n",
                static_cast<unsigned long long>(w["id"].get<uint64_t>()),
                w["name"].get<std::string>().c_str(), w["peer"].get<std::string>().c_str(),
                w["slots"].get<size_t>(), w["assigned"].get<size_t>(), w["running"].get<size_t>());
  bool no_workers = s["workers"].empty();
  if (no_workers && s.contains("no_workers_for_s")) {
    auto timeout = s.value("no_worker_timeout_s", 0.0);
    std::printf(
        "no workers for %.0f s: queued jobs wait for one%s\n", s["no_workers_for_s"].get<double>(),
        timeout > 0
            ? mael::format(" (they fail after {:.0f} s without one: no-worker-timeout)", timeout).c_str()
            : "");
  }
  for (const auto& c : s["clients"]) {
    size_t queued = c.value("queued", size_t{0});
    std::printf(
        "  client %llu %s at %s as %s: %zu waiting for artifacts, %zu queued, %zu running, %llu "
        "completed%s\n",
        static_cast<unsigned long long>(c["id"].get<uint64_t>()), c["name"].get<std::string>().c_str(),
        c["peer"].get<std::string>().c_str(), c.value("identity", std::string("?")).c_str(),
        c.value("waiting_for_artifacts", size_t{0}), queued, c.value("running", size_t{0}),
        static_cast<unsigned long long>(c.value("completed", uint64_t{0})),
        no_workers && queued > 0 ? " (waiting: the broker has no workers)" : "");
  }
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  using namespace mael;
  CLI::App *status = nullptr, *stop = nullptr;
  bool json = false;
  uint32_t protocol_version = 0;  // tests only
  return cluster::run_cluster_tool(
      {"maelstrom-admin", "Show a Maelstrom broker's status, or stop the broker and its workers.", false},
      argc, argv,
      [&](CLI::App& app, ConfigLoader& loader) {
        cluster::add_broker_config(loader);
        status = app.add_subcommand("status", "print the cluster's status");
        status->add_flag("--json", json, "print the status document as JSON");
        stop = app.add_subcommand("stop", "stop the broker and every connected worker");
        app.require_subcommand(0, 1);
        app.add_option("--protocol-version", protocol_version)->group("");
      },
      [&](const Config& config) {
        if (!status->parsed() && !stop->parsed()) throw UserError("give a subcommand: status or stop");
        std::string broker = cluster::broker_from_config(config);
        cluster::TlsOptions tls = cluster::tls_from_config(config);
        if (status->parsed()) {
          std::string s = cluster::admin_status(broker, tls, protocol_version);
          if (json)
            std::printf("%s\n", s.c_str());
          else
            print_status(s);
        } else {
          cluster::admin_stop(broker, tls, protocol_version);
          std::printf("broker at %s is stopping\n", broker.c_str());
        }
        return 0;
      });
}
