#pragma once
// The JSON job format of the cluster's test tools (mael-test-client,
// mael-rogue-peer): one object per job, with ready-made tar layers.
//   {"layers": [{"tar": "/abs/x.tar", "digest": "<hex, optional: overrides the file's>"}],
//    "program": "sh", "arguments": [...], "environment": ["PATH=/bin"],
//    "working_directory": "/", "timeout_ms": 1000, "priority": 0, "estimated_ms": 100,
//    "writable": false, "network": "disabled|loopback|local", "user": 0, "group": 0,
//    "mounts": [{"type": "tmp|proc|sys|devpts|mqueue|bind", "mount_point": "/tmp", "local_path": "..."}]}
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spec/spec.h"

namespace mael::testclient {

// blobs: where each layer digest's tar is; digests: each tar is hashed once however many jobs use it.
ResolvedJob parse_job(const nlohmann::json& j, std::map<Digest, std::string>& blobs,
                      std::map<std::string, Digest>& digests);
// Every job of a file of one JSON job per line; throws UserError naming the file.
std::vector<ResolvedJob> read_jobs(const std::string& file, std::map<Digest, std::string>& blobs);
const char* state_name(JobState s);
// An outcome as {"result": "exited|signaled|timed_out|error", "code"|"signal"|"error": ..., "stdout": ...}.
nlohmann::json outcome_json(const JobOutcome& o);

}  // namespace mael::testclient
