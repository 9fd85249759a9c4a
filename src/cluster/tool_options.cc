#include "cluster/tool_options.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "base/version.h"

namespace mael::cluster {

void add_tls_config(ConfigLoader& loader, bool broker_side) {
  loader.add(
      {.name = "tls-ca",
       .type = ConfigType::String,
       .help =
           broker_side
               ? "PEM CA certificate: every worker, client and admin must present a certificate it signed, "
                 "naming its role (OU=maelstrom-worker, maelstrom-client or maelstrom-admin)"
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
              .help = broker_side ? "not for the broker: see worker-token-file, client-token-file and "
                                    "admin-token-file"
                                  : "file whose first line is the token of this program's role at the broker",
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

int run_cluster_tool(const ClusterTool& tool, int argc, char** argv,
                     const std::function<void(CLI::App&, ConfigLoader&)>& declare,
                     const std::function<int(const Config&)>& body) {
  CLI::App app{tool.about, tool.program};
  return run_tool(tool.program, app, [&] {
    app.set_version_flag("-V,--version", version_line(tool.program));
    ConfigLoader loader(program_config_info(tool.program), app);
    declare(app, loader);
    add_tls_config(loader, tool.broker_side);
    app.parse(argc, argv);
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());
    return body(config);
  });
}

void add_broker_config(ConfigLoader& loader, std::string help) {
  loader.add({.name = "broker",
              .type = ConfigType::String,
              .help = std::move(help),
              .short_name = 'b',
              .value_name = "HOST:PORT",
              .check = host_port_problem});
}

std::optional<std::string> host_port_problem(std::string_view value) {
  const char* form = "expected HOST:PORT, e.g. localhost:9001";
  size_t colon = value.rfind(':');
  if (colon == std::string_view::npos || value.ends_with(']'))
    return std::string(form) + " (the port is missing)";
  std::string_view host = value.substr(0, colon), port = value.substr(colon + 1);
  if (host.empty()) return std::string(form) + " (the host is missing)";
  for (char c : host)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/') return std::string(form);
  if (host.front() == '[' ? host.size() < 3 || host.back() != ']' : host.find(':') != std::string_view::npos)
    return std::string("write an IPv6 host in brackets, e.g. [::1]:9001");
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  int number = digits ? std::stoi(std::string(port)) : 0;
  if (number < 1 || number > 65535) return std::string("the port must be a number from 1 to 65535");
  return std::nullopt;
}

std::string broker_from_config(const Config& config) {
  auto broker = config.get_optional_string("broker");
  if (!broker) throw UserError("no broker given: pass --broker HOST:PORT");
  return *broker;
}

std::optional<std::string> not_an_empty_path(std::string_view value) {
  if (value.empty()) return "an empty path; give a directory";
  return std::nullopt;
}

void add_cache_config(ConfigLoader& loader, const std::string& what, const std::string& project_default) {
  loader.add(
      {.name = "cache-root",
       .type = ConfigType::String,
       .help = "directory of the cache of artifacts (layer blobs and extracted layers)",
       .default_value = project_default.empty() ? std::optional(default_cache_root(what)) : std::nullopt,
       .value_name = "PATH",
       .default_note = project_default,
       .check = not_an_empty_path});
  loader.add({.name = "cache-size",
              .type = ConfigType::Size,
              .help = "target disk space of the cache; unused entries beyond it are evicted, least recently "
                      "used first",
              .default_value = "1 GB",
              .value_name = "BYTES"});
}

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

void StopSignals::on_signal(std::function<void(int sig)> stop) {
  std::thread([set = set_, stop = std::move(stop)] {
    int sig = 0;
    sigwait(&set, &sig);
    log::info("stopping on signal {}", sig);
    stop(sig);
  }).detach();
}

}  // namespace mael::cluster
