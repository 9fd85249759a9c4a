#include "client/client.h"

#include "base/error.h"
#include "container/runtime.h"
#include "image/image_depot.h"
#include "layers/layer_builder.h"
#include "store/artifact_store.h"

namespace mael {

namespace fs = std::filesystem;

Client::Client(ClientOptions options, EnvLookup env) : options_(std::move(options)), env_(std::move(env)) {
  Runtime::check_support();
  if (options_.project_dir.empty()) options_.project_dir = fs::current_path();
  options_.project_dir = fs::absolute(options_.project_dir);
  std::error_code ec;
  fs::create_directories(options_.cache_root, ec);
  if (ec)
    throw UserError("cannot create cache directory " + options_.cache_root.string() + ": " + ec.message() +
                    "; pick another with --cache-root");
  store_ = std::make_unique<ArtifactStore>(options_.cache_root / "artifacts", options_.cache_size);
  layers_ = std::make_unique<LayerBuilder>(*store_, options_.project_dir);
  runtime_ = std::make_unique<Runtime>(options_.cache_root / "runtime");
  executor_ = std::make_unique<LocalExecutor>(
      *store_, [rt = runtime_.get()](const ContainerConfig& c, const CancelToken* t) { return rt->run(c, t); },
      ExecutorOptions{.slots = options_.slots, .inline_limit = options_.inline_limit});
}

Client::~Client() {
  if (executor_) executor_->cancel_all();
  executor_.reset();
}

void Client::add_container(const std::string& name, ContainerSpec spec) {
  std::lock_guard lk(mu_);
  containers_[name] = std::move(spec);
}

ImageContribution Client::lookup_image(const std::string& name) {
  if (!images_) {
    ImageOptions o;
    o.depot_root = options_.container_image_depot_root;
    o.project_dir = options_.project_dir;
    o.insecure_registries = options_.insecure_registries;
    o.accept_invalid_certs = options_.accept_invalid_remote_container_tls_certs;
    o.progress = options_.image_progress;
    images_ = std::make_unique<ImageDepot>(std::move(o));
  }
  ImageInfo image = images_->get(name);
  ImageContribution info;
  for (const auto& l : image.layers) {
    info.layers.push_back(TarLayer{l.tar_path.string()});
    image_layer_digests_[l.tar_path.string()] = l.digest;
  }
  info.environment = image.environment;
  info.working_directory = image.working_directory;
  return info;
}

Digest Client::layer_digest(const LayerSpec& layer) {
  // Image layers are already content-addressed blobs: import them once.
  if (auto* tar = std::get_if<TarLayer>(&layer)) {
    auto it = image_layer_digests_.find(tar->path);
    if (it != image_layer_digests_.end()) {
      if (!store_->has_blob(it->second)) store_->add_blob_file(tar->path);
      return it->second;
    }
  }
  return layers_->build(layer);
}

ResolvedJob Client::resolve(const JobSpec& spec) {
  ResolvedContainer c;
  {
    std::lock_guard lk(mu_);
    c = resolve_container(
        spec.container, containers_, [this](const std::string& n) { return lookup_image(n); }, env_);
  }
  check_job_container(c);
  if (spec.program.empty()) throw UserError("job spec has no `program`: name the program to run");
  ResolvedJob job;
  for (const LayerSpec& l : c.layers) {
    std::lock_guard lk(mu_);
    job.layers.push_back(layer_digest(l));
  }
  job.enable_writable_file_system = c.enable_writable_file_system;
  job.mounts = c.mounts;
  for (Mount& m : job.mounts) {
    if (m.type != MountType::Bind) continue;
    fs::path p = m.local_path;
    if (p.is_relative()) p = options_.project_dir / p;
    std::error_code ec;
    if (!fs::exists(p, ec))
      throw UserError("bind mount local_path " + m.local_path + " does not exist (relative paths start at " +
                      options_.project_dir.string() + ")");
    m.local_path = fs::weakly_canonical(p).string();
  }
  job.network = c.network;
  job.program = spec.program;
  job.arguments = spec.arguments;
  job.environment = c.environment;
  job.working_directory = c.working_directory;
  job.user = c.user;
  job.group = c.group;
  job.timeout = spec.timeout;
  job.priority = spec.priority;
  job.estimated_duration = spec.estimated_duration;
  return job;
}

JobId Client::run_job(const JobSpec& spec, StateCallback on_state, DoneCallback on_done) {
  if (on_state) on_state(JobState::WaitingForArtifacts);
  ResolvedJob job = resolve(spec);
  return executor_->submit(std::move(job), std::move(on_state), std::move(on_done));
}

void Client::cancel_all() { executor_->cancel_all(); }
void Client::wait_idle() { executor_->wait_idle(); }

}  // namespace mael
