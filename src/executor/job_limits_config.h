#pragma once
// The configuration values of every tool that runs jobs on its machine
// (maelstrom-run, the test runners, maelstrom-worker): per-job limits and the
// host ids jobs run as when the tool runs as root. See docs/security.md.
#include "base/config.h"
#include "container/runtime.h"

namespace mael {

void add_job_limits_config(ConfigLoader& loader);
// job-max-processes, job-max-memory, job-max-tmpfs-size.
ContainerLimits job_limits_from(const Config& config);
// job-host-uid and job-host-gid into options.
void job_host_ids_from(const Config& config, RuntimeOptions& options);

}  // namespace mael
