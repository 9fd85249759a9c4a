// maelstrom-admin: shows a broker's status or stops the cluster.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/config.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "cluster/admin.h"
#include "cluster/tool_options.h"

namespace mael {
namespace {

constexpr const char* kProgram = "maelstrom-admin";

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
  for (const auto& c : s["clients"])
    std::printf("  client %llu %s at %s\n", static_cast<unsigned long long>(c["id"].get<uint64_t>()),
                c["name"].get<std::string>().c_str(), c["peer"].get<std::string>().c_str());
}

int main_impl(int argc, char** argv) {
  CLI::App app{"Show a Maelstrom broker's status, or stop the broker and its workers.", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("--version", "maelstrom-admin 0.1.0");
    ConfigLoader loader(program_config_info(kProgram), app);
    loader.add({.name = "broker",
                .type = ConfigType::String,
                .help = "HOST:PORT of the broker",
                .short_name = 'b',
                .value_name = "HOST:PORT"});
    cluster::add_tls_config(loader, false);
    auto* status = app.add_subcommand("status", "print the cluster's status");
    bool json = false;
    status->add_flag("--json", json, "print the status document as JSON");
    app.add_subcommand("stop", "stop the broker and every connected worker");
    app.require_subcommand(0, 1);
    app.parse(argc, argv);
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());
    if (app.get_subcommands().empty()) throw UserError("give a subcommand: status or stop");
    auto broker = config.get_optional_string("broker");
    if (!broker) throw UserError("no broker given: pass --broker HOST:PORT");
    cluster::TlsOptions tls = cluster::tls_from_config(config);
    if (app.got_subcommand("status")) {
      std::string s = cluster::admin_status(*broker, tls);
      if (json)
        std::printf("%s\n", s.c_str());
      else
        print_status(s);
    } else {
      cluster::admin_stop(*broker, tls);
      std::printf("broker at %s is stopping\n", broker->c_str());
    }
    return 0;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
