#include "client_api/convert.h"

#include "base/error.h"

namespace mael::client_api {

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw UserError(field + ": " + what);
}

PrefixOptions prefix_from(const pb::PrefixOptions& p) {
  PrefixOptions o;
  if (p.has_strip_prefix()) o.strip_prefix = p.strip_prefix();
  if (p.has_prepend_prefix()) o.prepend_prefix = p.prepend_prefix();
  o.canonicalize = p.canonicalize();
  o.follow_symlinks = p.follow_symlinks();
  return o;
}

std::vector<std::string> strings(const google::protobuf::RepeatedPtrField<std::string>& r) {
  return {r.begin(), r.end()};
}

LayerSpec layer_from(const pb::LayerSpec& l, const std::string& field) {
  switch (l.spec_case()) {
    case pb::LayerSpec::kTar: return TarLayer{l.tar().path()};
    case pb::LayerSpec::kGlob: return GlobLayer{l.glob().glob(), prefix_from(l.glob().prefix_options())};
    case pb::LayerSpec::kPaths:
      return PathsLayer{strings(l.paths().paths()), prefix_from(l.paths().prefix_options())};
    case pb::LayerSpec::kStubs: return StubsLayer{strings(l.stubs().stubs())};
    case pb::LayerSpec::kSymlinks: {
      SymlinksLayer s;
      for (const auto& x : l.symlinks().symlinks()) s.symlinks.push_back({x.link(), x.target()});
      return s;
    }
    case pb::LayerSpec::kSharedLibraryDependencies: {
      const auto& d = l.shared_library_dependencies();
      return SharedLibraryDependenciesLayer{strings(d.binary_paths()), prefix_from(d.prefix_options())};
    }
    case pb::LayerSpec::kCommand:
      return CommandLayer{l.command().program(), strings(l.command().arguments())};
    case pb::LayerSpec::SPEC_NOT_SET: break;
  }
  bad(field,
      "the layer sets none of tar, glob, paths, stubs, symlinks, shared_library_dependencies, command");
}

Device device_from(int d, const std::string& field) {
  switch (d) {
    case pb::JOB_DEVICE_FULL: return Device::Full;
    case pb::JOB_DEVICE_FUSE: return Device::Fuse;
    case pb::JOB_DEVICE_NULL: return Device::Null;
    case pb::JOB_DEVICE_RANDOM: return Device::Random;
    case pb::JOB_DEVICE_SHM: return Device::Shm;
    case pb::JOB_DEVICE_TTY: return Device::Tty;
    case pb::JOB_DEVICE_URANDOM: return Device::Urandom;
    case pb::JOB_DEVICE_ZERO: return Device::Zero;
    default: bad(field, "unknown JobDevice value " + std::to_string(d) + "; use one of JOB_DEVICE_*");
  }
}

Mount mount_from(const pb::JobMount& m, const std::string& field) {
  Mount o;
  switch (m.Mount_case()) {
    case pb::JobMount::kBind:
      o.type = MountType::Bind;
      o.mount_point = m.bind().mount_point();
      o.local_path = m.bind().local_path();
      o.read_only = m.bind().read_only();
      if (o.local_path.empty()) bad(field + ".bind.local_path", "empty; name the host path to bind");
      break;
    case pb::JobMount::kDevices:
      o.type = MountType::Devices;
      for (int i = 0; i < m.devices().devices_size(); ++i)
        o.devices.push_back(
            device_from(m.devices().devices(i), field + ".devices.devices[" + std::to_string(i) + "]"));
      return o;
    case pb::JobMount::kDevpts: o.type = MountType::Devpts, o.mount_point = m.devpts().mount_point(); break;
    case pb::JobMount::kMqueue: o.type = MountType::Mqueue, o.mount_point = m.mqueue().mount_point(); break;
    case pb::JobMount::kProc: o.type = MountType::Proc, o.mount_point = m.proc().mount_point(); break;
    case pb::JobMount::kSys: o.type = MountType::Sys, o.mount_point = m.sys().mount_point(); break;
    case pb::JobMount::kTmp: o.type = MountType::Tmp, o.mount_point = m.tmp().mount_point(); break;
    case pb::JobMount::MOUNT_NOT_SET:
      bad(field, "the mount sets none of bind, devices, devpts, mqueue, proc, sys, tmp");
  }
  if (o.mount_point.empty()) bad(field, "empty mount_point; name where the mount goes in the container");
  return o;
}

ImageUse image_use_from(int u, const std::string& field) {
  switch (u) {
    case pb::IMAGE_USE_LAYERS: return ImageUse::Layers;
    case pb::IMAGE_USE_ENVIRONMENT: return ImageUse::Environment;
    case pb::IMAGE_USE_WORKING_DIRECTORY: return ImageUse::WorkingDirectory;
    default: bad(field, "unknown ImageUse value " + std::to_string(u) + "; use one of IMAGE_USE_*");
  }
}

ContainerUse container_use_from(int u, const std::string& field) {
  switch (u) {
    case pb::CONTAINER_USE_LAYERS: return ContainerUse::Layers;
    case pb::CONTAINER_USE_ENABLE_WRITABLE_FILE_SYSTEM: return ContainerUse::EnableWritableFileSystem;
    case pb::CONTAINER_USE_ENVIRONMENT: return ContainerUse::Environment;
    case pb::CONTAINER_USE_WORKING_DIRECTORY: return ContainerUse::WorkingDirectory;
    case pb::CONTAINER_USE_MOUNTS: return ContainerUse::Mounts;
    case pb::CONTAINER_USE_NETWORK: return ContainerUse::Network;
    case pb::CONTAINER_USE_USER: return ContainerUse::User;
    case pb::CONTAINER_USE_GROUP: return ContainerUse::Group;
    default: bad(field, "unknown ContainerUse value " + std::to_string(u) + "; use one of CONTAINER_USE_*");
  }
}

ContainerParent parent_from(const pb::ContainerParent& p, const std::string& field) {
  switch (p.parent_case()) {
    case pb::ContainerParent::kImage: {
      if (p.image().name().empty())
        bad(field + ".image.name", "empty; name the image (docker://NAME:TAG...)");
      ImageRef r{p.image().name(), {}};
      for (int i = 0; i < p.image().use_size(); ++i)
        r.use.push_back(image_use_from(p.image().use(i), field + ".image.use[" + std::to_string(i) + "]"));
      return r;
    }
    case pb::ContainerParent::kContainer: {
      if (p.container().name().empty())
        bad(field + ".container.name", "empty; name a container added with AddContainer");
      ContainerRef r{p.container().name(), {}};
      for (int i = 0; i < p.container().use_size(); ++i)
        r.use.push_back(
            container_use_from(p.container().use(i), field + ".container.use[" + std::to_string(i) + "]"));
      return r;
    }
    case pb::ContainerParent::PARENT_NOT_SET: break;
  }
  bad(field, "the parent sets neither image nor container; leave parent unset for none");
}

pb::Duration duration_to(std::chrono::nanoseconds d) {
  pb::Duration o;
  o.set_seconds(static_cast<uint64_t>(d.count() / 1'000'000'000));
  o.set_nano_seconds(static_cast<uint32_t>(d.count() % 1'000'000'000));
  return o;
}

void output_to(const JobOutput& out, pb::JobOutputResult* o) {
  if (out.truncated > 0) {
    o->mutable_truncated()->set_first(out.first);
    o->mutable_truncated()->set_truncated(out.truncated);
  } else if (out.first.empty()) {
    o->mutable_none();
  } else {
    o->set_inline_(out.first);
  }
}

void effects_to(const JobEffects& e, pb::JobEffects* o) {
  output_to(e.stdout_, o->mutable_stdout());
  output_to(e.stderr_, o->mutable_stderr());
  *o->mutable_duration() = duration_to(e.duration);
}

}  // namespace

ContainerSpec container_from_proto(const pb::ContainerSpec& c, const std::string& field) {
  ContainerSpec o;
  if (c.has_parent()) o.parent = parent_from(c.parent(), field + ".parent");
  for (int i = 0; i < c.layers_size(); ++i)
    o.layers.push_back(layer_from(c.layers(i), field + ".layers[" + std::to_string(i) + "]"));
  if (c.has_enable_writable_file_system()) o.enable_writable_file_system = c.enable_writable_file_system();
  for (const auto& e : c.environment())
    o.environment.push_back({{e.vars().begin(), e.vars().end()}, e.extend()});
  if (c.has_working_directory()) o.working_directory = c.working_directory();
  for (int i = 0; i < c.mounts_size(); ++i)
    o.mounts.push_back(mount_from(c.mounts(i), field + ".mounts[" + std::to_string(i) + "]"));
  if (c.has_network()) {
    switch (c.network()) {
      case pb::JOB_NETWORK_DISABLED: o.network = Network::Disabled; break;
      case pb::JOB_NETWORK_LOOPBACK: o.network = Network::Loopback; break;
      case pb::JOB_NETWORK_LOCAL: o.network = Network::Local; break;
      default:
        bad(field + ".network",
            "unknown JobNetwork value " + std::to_string(c.network()) + "; use one of JOB_NETWORK_*");
    }
  }
  if (c.has_user()) o.user = c.user();
  if (c.has_group()) o.group = c.group();
  return o;
}

JobSpec job_from_proto(const pb::JobSpec& j) {
  JobSpec o;
  if (j.has_allocate_tty()) {
    const auto& t = j.allocate_tty();
    if (t.socket_address().empty() || t.socket_address().size() > 107)
      bad("spec.allocate_tty.socket_address", "must be an abstract Unix socket's address (6 bytes from autobind)");
    if (t.window_size().rows() > 0xffff || t.window_size().columns() > 0xffff)
      bad("spec.allocate_tty.window_size", "rows and columns must be below 65536");
    o.allocate_tty = JobTty{t.socket_address(), static_cast<uint16_t>(t.window_size().rows()),
                            static_cast<uint16_t>(t.window_size().columns())};
  }
  if (j.has_capture_file_system_changes()) {
    const auto& c = j.capture_file_system_changes();
    if (c.upper().empty()) bad("spec.capture_file_system_changes.upper", "empty; name a directory on this machine");
    if (c.work().empty()) bad("spec.capture_file_system_changes.work", "empty; name a directory on this machine");
    o.capture_file_system_changes = CaptureFileSystemChanges{c.upper(), c.work()};
  }
  o.container = container_from_proto(j.container(), "spec.container");
  if (j.program().empty()) bad("spec.program", "empty; name the program to run");
  o.program = j.program();
  o.arguments = strings(j.arguments());
  if (j.has_timeout() && j.timeout() > 0) o.timeout = std::chrono::seconds(j.timeout());
  if (j.has_estimated_duration()) {
    const auto& d = j.estimated_duration();
    if (d.nano_seconds() >= 1'000'000'000)
      bad("spec.estimated_duration.nano_seconds", "must be below 1000000000");
    o.estimated_duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nano_seconds()));
  }
  o.priority = j.priority();
  return o;
}

uint32_t worker_id_of(const std::string& worker) {
  uint32_t id = 0;
  if (worker.rfind("worker ", 0) != 0) return 0;
  for (size_t i = 7; i < worker.size() && worker[i] >= '0' && worker[i] <= '9'; ++i) {
    if (id > (UINT32_MAX - 9) / 10) return 0;
    id = id * 10 + static_cast<uint32_t>(worker[i] - '0');
  }
  return id;
}

pb::JobStatus running_status(JobState state, bool remote, uint32_t worker_id) {
  pb::JobStatus s;
  auto* r = s.mutable_running();
  if (remote) {
    auto* b = r->mutable_at_broker();
    switch (state) {
      case JobState::WaitingForArtifacts: b->mutable_waiting_for_layers(); break;
      case JobState::Pending: b->mutable_waiting_for_worker(); break;
      case JobState::Running:
      case JobState::Completed:
        b->mutable_at_worker()->set_worker_id(worker_id);
        b->mutable_at_worker()->set_status(pb::JOB_WORKER_STATUS_EXECUTING);
        break;
    }
  } else {
    switch (state) {
      case JobState::WaitingForArtifacts:
        r->set_at_local_worker(pb::JOB_WORKER_STATUS_WAITING_FOR_LAYERS);
        break;
      case JobState::Pending: r->set_at_local_worker(pb::JOB_WORKER_STATUS_WAITING_TO_EXECUTE); break;
      case JobState::Running:
      case JobState::Completed: r->set_at_local_worker(pb::JOB_WORKER_STATUS_EXECUTING); break;
    }
  }
  return s;
}

pb::JobStatus completed_status(uint32_t client_job_id, const JobOutcome& outcome) {
  pb::JobStatus s;
  auto* c = s.mutable_completed();
  c->set_client_job_id(client_job_id);
  auto* r = c->mutable_result();
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, JobError>) {
          if (v.kind == JobErrorKind::Execution)
            r->mutable_error()->set_execution(v.message);
          else
            r->mutable_error()->set_system(v.message);
        } else if constexpr (std::is_same_v<T, TimedOut>) {
          effects_to(outcome.effects, r->mutable_outcome()->mutable_timed_out());
        } else {
          auto* done = r->mutable_outcome()->mutable_completed();
          if constexpr (std::is_same_v<T, Exited>)
            done->set_exited(static_cast<uint32_t>(v.code));
          else
            done->set_signaled(static_cast<uint32_t>(v.signal));
          effects_to(outcome.effects, done->mutable_effects());
        }
      },
      outcome.result);
  return s;
}

}  // namespace mael::client_api
