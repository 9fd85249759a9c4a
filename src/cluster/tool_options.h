#pragma once
// What the cluster's programs (maelstrom-broker, -worker, -admin) share: the
// command-line frame, the TLS and token options (also read by clients that
// talk to a broker), the broker address, the cache options and stopping on
// SIGINT/SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/config.h"
#include "cluster/security.h"

namespace mael::cluster {

// Declares tls-ca, tls-cert, tls-key and token-file.
void add_tls_config(ConfigLoader& loader, bool broker_side);
// Reads them back (the token from its file).
TlsOptions tls_from_config(const Config& config);

// $XDG_CACHE_HOME/maelstrom/<what> (default ~/.cache/maelstrom/<what>).
std::string default_cache_root(const std::string& what);

struct ClusterTool {
  const char* program;  // e.g. "maelstrom-worker"
  const char* about;    // the --help headline
  bool broker_side;     // which wording the TLS options get
};

// The frame of a cluster program's main(): the CLI app with --version, the
// config loader (-c, -P, log level), `declare` for the program's own options,
// then the TLS options; parses argv, the environment and the config files,
// prints the configuration for -P, sets up logging and runs `body`. User
// errors end as one "error: ..." line and a non-zero exit code.
int run_cluster_tool(const ClusterTool& tool, int argc, char** argv,
                     const std::function<void(CLI::App&, ConfigLoader&)>& declare,
                     const std::function<int(const Config&)>& body);

// -b/--broker HOST:PORT, and reading it back (UserError when absent).
// HOST:PORT with a port from 1 to 65535 (an IPv6 host in brackets) is checked by the loader.
void add_broker_config(ConfigLoader& loader, std::string help = "HOST:PORT of the broker");
// A check for path options: refuses "".
std::optional<std::string> not_an_empty_path(std::string_view value);
// Why `value` is not a HOST:PORT a connection can be made to (nullopt: it is).
std::optional<std::string> host_port_problem(std::string_view value);
std::string broker_from_config(const Config& config);

// cache-root (default default_cache_root(what)) and cache-size: the same two
// values for the broker, the worker and every client program. With a
// `project_default` (e.g. "maelstrom/cache in cargo's target directory"),
// cache-root has no default of its own: the program picks that directory when it
// is not given, and --help says so.
void add_cache_config(ConfigLoader& loader, const std::string& what, const std::string& project_default = "");

// Blocks SIGINT and SIGTERM in the calling thread and in the threads it starts
// afterwards (construct it before starting any), so that only stop_on_signal's
// thread receives them.
class StopSignals {
 public:
  StopSignals();
  // Starts a thread that waits for one of the signals, logs it and calls stop
  // with the signal's number.
  void on_signal(std::function<void(int sig)> stop);

 private:
  sigset_t set_;
};

}  // namespace mael::cluster
