#include "cluster/convert.h"

#include "base/error.h"
#include "base/format.h"
#include "base/input_limits.h"

namespace mael::cluster {

std::string digest_bytes(const Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.bytes().data()), d.bytes().size());
}

Digest digest_from_bytes(const std::string& bytes) {
  std::array<uint8_t, 32> a;
  if (bytes.size() != a.size())
    throw UserError(mael::format("malformed digest: {} bytes instead of 32", bytes.size()));
  std::copy(bytes.begin(), bytes.end(), a.begin());
  return Digest(a);
}

namespace {

pb::MountType mount_type_to_proto(MountType t) {
  switch (t) {
    case MountType::Tmp: return pb::MOUNT_TMP;
    case MountType::Bind: return pb::MOUNT_BIND;
    case MountType::Devices: return pb::MOUNT_DEVICES;
    case MountType::Devpts: return pb::MOUNT_DEVPTS;
    case MountType::Mqueue: return pb::MOUNT_MQUEUE;
    case MountType::Proc: return pb::MOUNT_PROC;
    case MountType::Sys: return pb::MOUNT_SYS;
  }
  return pb::MOUNT_TMP;
}

MountType mount_type_from_proto(int t) {
  switch (t) {
    case pb::MOUNT_TMP: return MountType::Tmp;
    case pb::MOUNT_BIND: return MountType::Bind;
    case pb::MOUNT_DEVICES: return MountType::Devices;
    case pb::MOUNT_DEVPTS: return MountType::Devpts;
    case pb::MOUNT_MQUEUE: return MountType::Mqueue;
    case pb::MOUNT_PROC: return MountType::Proc;
    case pb::MOUNT_SYS: return MountType::Sys;
  }
  throw UserError(mael::format("malformed job: unknown mount type {}", t));
}

// Device and Network enums have the same order in both models.
Device device_from_proto(int d) {
  if (d < 0 || d > pb::DEVICE_ZERO) throw UserError(mael::format("malformed job: unknown device {}", d));
  return static_cast<Device>(d);
}

Network network_from_proto(int n) {
  if (n < 0 || n > pb::NETWORK_LOCAL) throw UserError(mael::format("malformed job: unknown network {}", n));
  return static_cast<Network>(n);
}

void output_to_proto(const JobOutput& o, pb::JobOutput* out) {
  out->set_first(o.first);
  out->set_truncated(o.truncated);
}

JobOutput output_from_proto(const pb::JobOutput& o) {
  return JobOutput{o.first(), o.truncated()};
}

// The bounds a peer's job keeps (base/input_limits.h): what the runtime would otherwise be asked
// to build, and strings that C would read differently (a NUL ends them early).
void check_count(size_t n, size_t max, const char* what) {
  if (n > max) throw UserError(mael::format("malformed job: {} {}, more than {}", n, what, max));
}
const std::string& checked(const std::string& s, const char* what) {
  if (s.size() > limits::kMaxJobStringBytes)
    throw UserError(mael::format("malformed job: {} is {} bytes long, more than {}", what, s.size(),
                                 limits::kMaxJobStringBytes));
  if (s.find('\0') != std::string::npos)
    throw UserError(mael::format("malformed job: {} has a NUL byte", what));
  return s;
}
// Timeouts and durations are whole seconds of 32 bits in Maelstrom's job specs.
constexpr uint64_t kMaxMilliseconds = uint64_t{0xffffffff} * 1000;
std::chrono::milliseconds checked_ms(uint64_t ms, const char* what) {
  if (ms > kMaxMilliseconds)
    throw UserError(mael::format("malformed job: {} of {} ms, more than {}", what, ms, kMaxMilliseconds));
  return std::chrono::milliseconds(ms);
}

}  // namespace

void to_proto(const ResolvedJob& job, pb::ResolvedJob* out) {
  out->Clear();
  for (const Digest& d : job.layers) out->add_layers(digest_bytes(d));
  out->set_enable_writable_file_system(job.enable_writable_file_system);
  for (const Mount& m : job.mounts) {
    auto* pm = out->add_mounts();
    pm->set_type(mount_type_to_proto(m.type));
    pm->set_mount_point(m.mount_point);
    pm->set_local_path(m.local_path);
    pm->set_read_only(m.read_only);
    for (Device d : m.devices) pm->add_devices(static_cast<pb::Device>(d));
  }
  out->set_network(static_cast<pb::Network>(job.network));
  out->set_program(job.program);
  for (const auto& a : job.arguments) out->add_arguments(a);
  for (const auto& e : job.environment) out->add_environment(e);
  out->set_working_directory(job.working_directory);
  out->set_user(job.user);
  out->set_group(job.group);
  if (job.timeout) out->set_timeout_ms(job.timeout->count());
  out->set_priority(job.priority);
  if (job.estimated_duration) out->set_estimated_duration_ms(job.estimated_duration->count());
  if (job.limits.max_processes) out->set_max_processes(*job.limits.max_processes);
  if (job.limits.max_memory) out->set_max_memory(*job.limits.max_memory);
  if (job.limits.max_tmpfs_size) out->set_max_tmpfs_size(*job.limits.max_tmpfs_size);
}

ResolvedJob from_proto(const pb::ResolvedJob& p) {
  ResolvedJob job;
  check_count(p.layers_size(), limits::kMaxJobLayers, "layers");
  check_count(p.mounts_size(), limits::kMaxJobMounts, "mounts");
  check_count(p.arguments_size() + p.environment_size(), limits::kMaxJobStrings,
              "arguments and environment entries");
  for (const auto& d : p.layers()) job.layers.push_back(digest_from_bytes(d));
  job.enable_writable_file_system = p.enable_writable_file_system();
  for (const auto& pm : p.mounts()) {
    Mount m;
    m.type = mount_type_from_proto(pm.type());
    m.mount_point = checked(pm.mount_point(), "a mount point");
    m.local_path = checked(pm.local_path(), "a mount's local path");
    m.read_only = pm.read_only();
    check_count(pm.devices_size(), limits::kMaxJobMounts, "devices in one mount");
    for (int d : pm.devices()) m.devices.push_back(device_from_proto(d));
    if (m.type != MountType::Devices && (m.mount_point.empty() || m.mount_point[0] != '/'))
      throw UserError(mael::format("malformed job: mount point '{}' is not an absolute path", m.mount_point));
    job.mounts.push_back(std::move(m));
  }
  job.network = network_from_proto(p.network());
  if (p.program().empty()) throw UserError("malformed job: the program is empty");
  job.program = checked(p.program(), "the program");
  for (const auto& a : p.arguments()) job.arguments.push_back(checked(a, "an argument"));
  for (const auto& e : p.environment()) {
    checked(e, "an environment entry");
    if (e.find('=') == std::string::npos || e[0] == '=')
      throw UserError(mael::format("malformed job: environment entry '{}' is not NAME=value", e));
    job.environment.push_back(e);
  }
  job.working_directory =
      p.working_directory().empty() ? "/" : checked(p.working_directory(), "the working directory");
  if (job.working_directory[0] != '/')
    throw UserError(
        mael::format("malformed job: working directory '{}' is not absolute", job.working_directory));
  job.user = p.user();
  job.group = p.group();
  if (p.has_timeout_ms()) job.timeout = checked_ms(p.timeout_ms(), "a timeout");
  job.priority = p.priority();
  if (p.has_estimated_duration_ms())
    job.estimated_duration = checked_ms(p.estimated_duration_ms(), "an estimated duration");
  // (A limit of 0 would mean "none" to the runtime: never from a peer.)
  auto limit = [](bool has, uint64_t value, const char* what) -> std::optional<uint64_t> {
    if (!has) return std::nullopt;
    if (value == 0) throw UserError(mael::format("malformed job: {} of 0", what));
    return value;
  };
  job.limits.max_processes = limit(p.has_max_processes(), p.max_processes(), "a process limit");
  job.limits.max_memory = limit(p.has_max_memory(), p.max_memory(), "a memory limit");
  job.limits.max_tmpfs_size = limit(p.has_max_tmpfs_size(), p.max_tmpfs_size(), "a tmpfs size limit");
  return job;
}

void to_proto(const JobOutcome& o, pb::JobOutcome* out) {
  out->Clear();
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Exited>) {
          out->set_exited(r.code);
        } else if constexpr (std::is_same_v<T, Signaled>) {
          out->set_signaled(r.signal);
        } else if constexpr (std::is_same_v<T, TimedOut>) {
          out->set_timed_out(true);
        } else {
          out->mutable_error()->set_kind(r.kind == JobErrorKind::Execution ? pb::JobError::EXECUTION
                                                                           : pb::JobError::SYSTEM);
          out->mutable_error()->set_message(r.message);
        }
      },
      o.result);
  output_to_proto(o.effects.stdout_, out->mutable_stdout());
  output_to_proto(o.effects.stderr_, out->mutable_stderr());
  out->set_duration_ns(o.effects.duration.count());
}

JobOutcome from_proto(const pb::JobOutcome& p) {
  JobOutcome o;
  switch (p.result_case()) {
    case pb::JobOutcome::kExited: o.result = Exited{p.exited()}; break;
    case pb::JobOutcome::kSignaled: o.result = Signaled{p.signaled()}; break;
    case pb::JobOutcome::kTimedOut: o.result = TimedOut{}; break;
    case pb::JobOutcome::kError:
      o.result = JobError{
          p.error().kind() == pb::JobError::EXECUTION ? JobErrorKind::Execution : JobErrorKind::System,
          p.error().message()};
      break;
    case pb::JobOutcome::RESULT_NOT_SET:
      o.result = JobError{JobErrorKind::System, "malformed outcome from worker: no result"};
      break;
  }
  o.effects.stdout_ = output_from_proto(p.stdout());
  o.effects.stderr_ = output_from_proto(p.stderr());
  // A peer's outcome is reported, never trusted to be sane: values no job can have become a
  // system error (the one a missing result gets), not an exit status or a negative duration.
  std::string bad;
  if (const auto* e = std::get_if<Exited>(&o.result); e && (e->code < 0 || e->code > 255))
    bad = mael::format("exit code {}", e->code);
  if (const auto* s = std::get_if<Signaled>(&o.result); s && (s->signal < 1 || s->signal > 64))
    bad = mael::format("signal {}", s->signal);
  if (p.duration_ns() > static_cast<uint64_t>(INT64_MAX))
    bad = mael::format("duration of {} ns", p.duration_ns());
  if (!bad.empty()) o.result = JobError{JobErrorKind::System, "malformed outcome from worker: " + bad};
  o.effects.duration = std::chrono::nanoseconds(std::min(p.duration_ns(), static_cast<uint64_t>(INT64_MAX)));
  return o;
}

pb::JobState to_proto(JobState s) {
  switch (s) {
    case JobState::WaitingForArtifacts: return pb::WAITING_FOR_ARTIFACTS;
    case JobState::Pending: return pb::PENDING;
    case JobState::Running: return pb::RUNNING;
    case JobState::Completed: return pb::COMPLETED;
  }
  return pb::PENDING;
}

JobState from_proto(pb::JobState s) {
  switch (s) {
    case pb::WAITING_FOR_ARTIFACTS: return JobState::WaitingForArtifacts;
    case pb::RUNNING: return JobState::Running;
    case pb::COMPLETED: return JobState::Completed;
    default: return JobState::Pending;
  }
}

}  // namespace mael::cluster
