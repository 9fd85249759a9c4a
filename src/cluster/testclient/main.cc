// mael-test-client: submits jobs to a broker through BrokerConnection, for the
// end-to-end tests and benchmarks (not installed).
//
// Input (--jobs FILE, one JSON object per line):
//   {"layers": [{"tar": "/abs/x.tar", "digest": "<hex, optional: overrides the file's>"}],
//    "program": "sh", "arguments": [...], "environment": ["PATH=/bin"],
//    "working_directory": "/", "timeout_ms": 1000, "priority": 0, "estimated_ms": 100,
//    "writable": false, "network": "disabled|loopback|local", "user": 0, "group": 0,
//    "mounts": [{"type": "tmp|proc|sys|devpts|mqueue|bind", "mount_point": "/tmp", "local_path": "..."}]}
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

namespace mael {
namespace {

using nlohmann::json;

Mount parse_mount(const json& j) {
  static const std::map<std::string, MountType> kTypes{
      {"tmp", MountType::Tmp},       {"proc", MountType::Proc},     {"sys", MountType::Sys},
      {"devpts", MountType::Devpts}, {"mqueue", MountType::Mqueue}, {"bind", MountType::Bind}};
  Mount m;
  auto it = kTypes.find(j.at("type").get<std::string>());
  if (it == kTypes.end()) throw UserError("unknown mount type " + j.at("type").get<std::string>());
  m.type = it->second;
  m.mount_point = j.value("mount_point", "");
  m.local_path = j.value("local_path", "");
  m.read_only = j.value("read_only", false);
  return m;
}

// digests: each tar is hashed once however many jobs use it.
ResolvedJob parse_job(const json& j, std::map<Digest, std::string>& blobs,
                      std::map<std::string, Digest>& digests) {
  ResolvedJob r;
  for (const auto& l : j.value("layers", json::array())) {
    std::string tar = l.at("tar");
    Digest d;
    if (l.contains("digest")) {
      d = Digest::from_hex(l.at("digest").get<std::string>());
    } else {
      auto it = digests.find(tar);
      d = it != digests.end() ? it->second : (digests[tar] = Digest::of_file(tar));
    }
    blobs[d] = tar;
    r.layers.push_back(d);
  }
  r.program = j.value("program", "");
  r.arguments = j.value("arguments", std::vector<std::string>{});
  r.environment = j.value("environment", std::vector<std::string>{});
  r.working_directory = j.value("working_directory", "/");
  if (j.contains("timeout_ms")) r.timeout = std::chrono::milliseconds(j.at("timeout_ms").get<int64_t>());
  r.priority = j.value("priority", 0);
  if (j.contains("estimated_ms"))
    r.estimated_duration = std::chrono::milliseconds(j.at("estimated_ms").get<int64_t>());
  r.enable_writable_file_system = j.value("writable", false);
  std::string net = j.value("network", "disabled");
  r.network = net == "loopback" ? Network::Loopback : net == "local" ? Network::Local : Network::Disabled;
  r.user = j.value("user", 0u);
  r.group = j.value("group", 0u);
  for (const auto& m : j.value("mounts", json::array())) r.mounts.push_back(parse_mount(m));
  return r;
}

const char* state_name(JobState s) {
  switch (s) {
    case JobState::WaitingForArtifacts: return "waiting_for_artifacts";
    case JobState::Pending: return "pending";
    case JobState::Running: return "running";
    case JobState::Completed: return "completed";
  }
  return "?";
}

json outcome_json(const JobOutcome& o) {
  json j;
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Exited>) {
          j["result"] = "exited";
          j["code"] = r.code;
        } else if constexpr (std::is_same_v<T, Signaled>) {
          j["result"] = "signaled";
          j["signal"] = r.signal;
        } else if constexpr (std::is_same_v<T, TimedOut>) {
          j["result"] = "timed_out";
        } else {
          j["result"] = "error";
          j["error_kind"] = r.kind == JobErrorKind::Execution ? "execution" : "system";
          j["error"] = r.message;
        }
      },
      o.result);
  j["stdout"] = o.effects.stdout_.first;
  j["stderr"] = o.effects.stderr_.first;
  j["stdout_truncated"] = o.effects.stdout_.truncated;
  j["duration_s"] = std::chrono::duration<double>(o.effects.duration).count();
  return j;
}

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
    std::map<std::string, Digest> digests;
    std::vector<ResolvedJob> jobs;
    std::ifstream in(jobs_file);
    if (!in) throw UserError("cannot open " + jobs_file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      try {
        jobs.push_back(parse_job(json::parse(line), blobs, digests));
      } catch (const json::exception& e) {
        throw UserError(mael::format("{}: malformed job spec: {}", jobs_file, e.what()));
      }
    }

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
