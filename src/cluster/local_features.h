#pragma once
// Jobs with bind mounts or network = "local" reach into the host that runs
// them. A worker runs such jobs from the broker only as far as its own
// configuration allows (allow-bind-mounts: the host directories jobs may bind;
// allow-local-network); the broker sends them only to workers that said so,
// and the worker checks again, since it does not trust the broker with its host.
#include <optional>
#include <string>
#include <vector>

#include "spec/spec.h"

namespace mael::cluster {

struct WorkerFeatures {
  std::vector<std::string> bind_mount_roots;  // absolute directories
  bool local_network = false;
};

// Why `worker` (a name, for the message) does not run `job`, or nullopt when it
// does. The worker passes on_host = true: bind paths are then resolved on this
// host (symbolic links followed) before they are compared with the roots; the
// broker compares the paths as the job gives them.
std::optional<std::string> local_features_refusal(const ResolvedJob& job, const WorkerFeatures& features,
                                                  const std::string& worker, bool on_host);

}  // namespace mael::cluster
