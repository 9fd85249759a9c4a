#include "cluster/testclient/job_json.h"

#include <fstream>

#include "base/error.h"
#include "base/format.h"

namespace mael::testclient {

using nlohmann::json;

namespace {

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

}  // namespace

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

std::vector<ResolvedJob> read_jobs(const std::string& file, std::map<Digest, std::string>& blobs) {
  std::map<std::string, Digest> digests;
  std::vector<ResolvedJob> jobs;
  std::ifstream in(file);
  if (!in) throw UserError("cannot open " + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      jobs.push_back(parse_job(json::parse(line), blobs, digests));
    } catch (const json::exception& e) {
      throw UserError(mael::format("{}: malformed job spec: {}", file, e.what()));
    }
  }
  return jobs;
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

}  // namespace mael::testclient
