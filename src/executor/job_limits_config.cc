#include "executor/job_limits_config.h"

#include <string>

namespace mael {

void add_job_limits_config(ConfigLoader& loader) {
  const ContainerLimits defaults = ContainerLimits::defaults();
  loader.add({.name = "job-max-processes",
              .type = ConfigType::Int,
              .help = "processes and threads each job may have at once (0: no limit); a job spec's "
                      "max_processes may ask for fewer",
              .default_value = std::to_string(defaults.max_processes),
              .value_name = "N",
              .min = 0});
  loader.add({.name = "job-max-memory",
              .type = ConfigType::Size,
              .help = "memory each job may use, its tmpfs files included (0: no limit); enforced with a "
                      "cgroup where one can be had (root, or a delegated cgroup v2); default: half of this "
                      "machine's memory",
              .default_value = std::to_string(defaults.max_memory),
              .value_name = "BYTES"});
  loader.add({.name = "job-max-tmpfs-size",
              .type = ConfigType::Size,
              .help = "size of each tmpfs a job gets (tmp mounts, /dev/shm, the writable root's changes); "
                      "0: no limit; default: a quarter of this machine's memory",
              .default_value = std::to_string(defaults.max_tmpfs_size),
              .value_name = "BYTES"});
  const std::string id = std::to_string(RuntimeOptions::kDefaultJobHostId);
  loader.add({.name = "job-host-uid",
              .type = ConfigType::Int,
              .help = "when run as root: the host user id every job runs as (never 0: a job's root is never "
                      "host root); ignored otherwise (jobs run as the user running this tool)",
              .default_value = id,
              .value_name = "UID",
              .min = 1,
              .max = 4294967294});
  loader.add({.name = "job-host-gid",
              .type = ConfigType::Int,
              .help = "when run as root: the host group id every job runs as (never 0)",
              .default_value = id,
              .value_name = "GID",
              .min = 1,
              .max = 4294967294});
}

ContainerLimits job_limits_from(const Config& config) {
  ContainerLimits limits;
  limits.max_processes = static_cast<uint64_t>(config.get_int("job-max-processes"));
  limits.max_memory = config.get_size("job-max-memory");
  limits.max_tmpfs_size = config.get_size("job-max-tmpfs-size");
  return limits;
}

void job_host_ids_from(const Config& config, RuntimeOptions& options) {
  options.job_host_uid = static_cast<uint32_t>(config.get_int("job-host-uid"));
  options.job_host_gid = static_cast<uint32_t>(config.get_int("job-host-gid"));
}

}  // namespace mael
