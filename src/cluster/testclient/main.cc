// mael-test-client: submits jobs to a broker through BrokerConnection, for the
// end-to-end tests and benchmarks (not installed).
//
// Input (--jobs FILE): one JSON job per line (cluster/testclient/job_json.h).
// Output: one JSON line per finished job (index, result, code/signal/error,
// stdout, stderr, states, worker), then with --summary one line with totals.
#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "cluster/broker_connection.h"
#include "cluster/testclient/job_json.h"

namespace mael {
namespace {

using nlohmann::json;
using testclient::outcome_json;
using testclient::read_jobs;
using testclient::state_name;

int main_impl(int argc, char** argv) {
  CLI::App app{"Submit jobs to a Maelstrom broker (test tool).", "mael-test-client"};
  return run_tool("mael-test-client", app, [&] {
    std::string broker, jobs_file, name = "mael-test-client", log_level = "warning", token_file;
    cluster::TlsOptions tls;
    uint32_t protocol_version = 0;
    bool summary = false;
    app.add_option("--broker", broker, "HOST:PORT")->required();
    app.add_option("--jobs", jobs_file, "JSON lines of jobs")->required();
    app.add_option("--tls-ca", tls.ca_file);
    app.add_option("--tls-cert", tls.cert_file);
    app.add_option("--tls-key", tls.key_file);
    app.add_option("--token-file", token_file);
    app.add_option("--name", name);
    app.add_option("--protocol-version", protocol_version);
    app.add_option("-L,--log-level", log_level);
    app.add_flag("--summary", summary, "print a final line with totals");
    app.parse(argc, argv);
    init_logging(log_level);
    if (!token_file.empty()) tls.token = cluster::read_token_file(token_file);

    std::map<Digest, std::string> blobs;
    std::vector<ResolvedJob> jobs = read_jobs(jobs_file, blobs);

    // Declared before the connection: its callbacks use them until it is gone.
    std::mutex mu;
    std::map<size_t, json> states;
    size_t errors = 0;
    cluster::BrokerConnectionOptions opts;
    opts.name = name;
    opts.protocol_version = protocol_version;
    auto start = std::chrono::steady_clock::now();
    cluster::BrokerConnection conn(
        broker, tls,
        [&blobs](const Digest& d) -> std::optional<std::filesystem::path> {
          auto it = blobs.find(d);
          if (it == blobs.end()) return std::nullopt;
          return it->second;
        },
        opts);
    std::printf("{\"connected\": true}\n");
    std::fflush(stdout);
    for (size_t i = 0; i < jobs.size(); ++i) {
      {
        std::lock_guard lk(mu);
        states[i] = json::array();
      }
      conn.submit(
          std::move(jobs[i]),
          [&, i](JobState s, const std::string& worker) {
            std::lock_guard lk(mu);
            states[i].push_back(state_name(s));
            if (!worker.empty()) states[i].push_back(worker);
          },
          [&, i](JobOutcome o) {
            json j = outcome_json(o);
            std::lock_guard lk(mu);
            j["index"] = i;
            j["states"] = states[i];
            if (j["result"] == "error") ++errors;
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
          });
    }
    conn.wait_idle();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (summary)
      std::printf("{\"summary\": true, \"jobs\": %zu, \"errors\": %zu, \"seconds\": %.3f}\n", jobs.size(),
                  errors, secs);
    std::fflush(stdout);
    if (auto e = conn.error()) {
      std::fprintf(stderr, "error: %s\n", e->c_str());
      return 1;
    }
    return 0;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
