#include "client/client.h"

#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "cluster/broker_connection.h"
#include "container/runtime.h"
#include "container/tty_job.h"
#include "image/image_depot.h"
#include "layers/layer_builder.h"
#include "store/artifact_store.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

constexpr JobId kRemoteBit = JobId{1} << 63;

std::string default_client_name() {
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + " pid " + std::to_string(::getpid());
}

}  // namespace

Client::Client(ClientOptions options, EnvLookup env) : options_(std::move(options)), env_(std::move(env)) {
  if (!options_.broker) Runtime::check_support();
  if (options_.project_dir.empty()) options_.project_dir = fs::current_path();
  options_.project_dir = fs::absolute(options_.project_dir);
  std::error_code ec;
  fs::create_directories(options_.cache_root, ec);
  if (ec)
    throw UserError("cannot create cache directory " + options_.cache_root.string() + ": " + ec.message() +
                    "; pick another with --cache-root");
  ArtifactStoreOptions store_options;
  store_options.wait_for_lock = options_.cache_lock_wait;
  // Jobs see their layers' files as their own (run as root: the jobs' host id).
  store_options.owner = Runtime::tree_owner(options_.runtime);
  store_options.on_lock_wait = [](const fs::path& root) {
    log::info("Blocking waiting for file lock on the cache directory {}", root.parent_path().string());
  };
  store_ = std::make_unique<ArtifactStore>(options_.cache_root / "artifacts", options_.cache_size,
                                           std::move(store_options));
  layers_ = std::make_unique<LayerBuilder>(*store_, options_.project_dir);
  if (options_.broker) {
    cluster::quiet_grpc_logging();
    cluster::TlsOptions tls{.ca_file = options_.tls_ca,
                            .cert_file = options_.tls_cert,
                            .key_file = options_.tls_key,
                            .token = options_.token};
    cluster::BrokerConnectionOptions bo;
    bo.name = options_.client_name.empty() ? default_client_name() : options_.client_name;
    // Remote jobs pin their layers until they end, so the paths stay valid while uploading.
    broker_ = std::make_unique<cluster::BrokerConnection>(
        *options_.broker, std::move(tls),
        [store = store_.get()](const Digest& d) { return store->blob_path(d); }, std::move(bo));
  } else {
    local_executor();
  }
}

Client::~Client() {
  // Disconnecting ends the cluster's jobs (their callbacks run now, while the
  // store is alive); then the local executor kills its own.
  broker_.reset();
  if (executor_) executor_->cancel_all();
  executor_.reset();
}

LocalExecutor& Client::local_executor() {
  if (LocalExecutor* e = executor_ptr_.load()) return *e;
  std::lock_guard lk(local_mu_);
  if (!executor_) {
    // With a broker this runs at the first local-only job: check the kernel then.
    if (options_.broker) Runtime::check_support();
    runtime_ = std::make_unique<Runtime>(options_.cache_root / "runtime", options_.runtime);
    executor_ = std::make_unique<LocalExecutor>(
        *store_,
        [rt = runtime_.get()](const ContainerConfig& c, const CancelToken* t) {
          return c.tty ? run_with_tty_socket(*rt, c, t) : rt->run(c, t);
        },
        ExecutorOptions{.slots = options_.slots, .inline_limit = options_.inline_limit, .limits = options_.job_limits});
    executor_ptr_ = executor_.get();
  }
  return *executor_;
}

void Client::add_container(const std::string& name, ContainerSpec spec) {
  std::lock_guard lk(mu_);
  containers_[name] = std::move(spec);
}

std::vector<std::string> Client::images_downloading() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> names;
  for (const auto& n : images_in_use_)
    if (names.empty() || names.back() != n) names.push_back(n);
  return names;
}

std::vector<Client::Upload> Client::uploads_in_progress() const {
  std::vector<Upload> out;
  if (!broker_) return out;
  for (const auto& u : broker_->uploads_in_progress())
    out.push_back({store_->describe(u.digest), u.size, u.sent});
  return out;
}

// Called without mu_: a pull takes as long as the network does, and jobs with other images (or
// none) go on meanwhile. The depot is thread-safe and pulls each name once.
ImageContribution Client::lookup_image(const std::string& name) {
  ImageDepot* depot;
  {
    std::lock_guard lk(mu_);
    if (!images_) {
      ImageOptions o;
      o.depot_root = options_.container_image_depot_root;
      o.project_dir = options_.project_dir;
      o.insecure_registries = options_.insecure_registries;
      o.accept_invalid_certs = options_.accept_invalid_remote_container_tls_certs;
      o.progress = options_.image_progress;
      o.size_limit = options_.container_image_depot_size;
      images_ = std::make_unique<ImageDepot>(std::move(o));
    }
    depot = images_.get();
    images_in_use_.insert(name);
  }
  struct Done {
    Client& c;
    const std::string& name;
    ~Done() {
      std::lock_guard lk(c.mu_);
      c.images_in_use_.erase(c.images_in_use_.find(name));
    }
  } done{*this, name};
  ImageInfo image = depot->get(name);
  ImageContribution info;
  std::lock_guard lk(mu_);
  for (const auto& l : image.layers) {
    info.layers.push_back(TarLayer{l.tar_path.string()});
    image_layer_digests_[l.tar_path.string()] = l.digest;
  }
  info.environment = image.environment;
  info.working_directory = image.working_directory;
  return info;
}

Digest Client::layer_digest(const LayerSpec& layer) {
  // A memoized digest is used while its blob is in the store (it may be evicted during a run).
  return layer_memo_.get(
      layer, [&] { return build_layer(layer); }, [this](const Digest& d) { return store_->has_blob(d); });
}

Digest Client::build_layer(const LayerSpec& layer) {
  // Image layers are already content-addressed blobs: import them once.
  if (auto* tar = std::get_if<TarLayer>(&layer)) {
    std::optional<Digest> image_blob;
    {
      std::lock_guard lk(mu_);
      auto it = image_layer_digests_.find(tar->path);
      if (it != image_layer_digests_.end()) image_blob = it->second;
    }
    if (image_blob) {
      if (!store_->has_blob(*image_blob)) store_->add_blob_file(tar->path);
      store_->set_label(*image_blob, "image layer " + tar->path);
      return *image_blob;
    }
  }
  return layers_->build(layer);  // thread-safe: layers of several jobs build side by side
}

ResolvedJob Client::resolve(const JobSpec& spec, ArtifactStore::PinnedBlobs* pins) {
  NamedContainers containers;
  {
    std::lock_guard lk(mu_);
    containers = containers_;
  }
  ResolvedContainer c = resolve_container(
      spec.container, containers, [this](const std::string& n) { return lookup_image(n); }, env_);
  check_job_container(c);
  if (spec.program.empty()) throw UserError("job spec has no `program`: name the program to run");
  ResolvedJob job;
  job.layers.reserve(c.layers.size());
  {
    // Nothing is evicted from building the first layer until all are pinned.
    ArtifactStore::EvictionHold hold = store_->hold_eviction();
    for (const LayerSpec& l : c.layers) job.layers.push_back(layer_digest(l));
    if (pins) *pins = store_->pin_blobs(job.layers);
  }
  job.enable_writable_file_system = c.enable_writable_file_system;
  if (const auto& tty = spec.allocate_tty) {
    if (tty->socket_address.empty() || tty->socket_address.size() > sizeof(sockaddr_un::sun_path))
      throw UserError("allocate_tty.socket_address must name a Unix socket (1 to " +
                      std::to_string(sizeof(sockaddr_un::sun_path)) + " bytes; Linux's autobind gives 6)");
    job.allocate_tty = tty;
  }
  if (const auto& cap = spec.capture_file_system_changes) {
    auto dir = [&](const std::string& p, const char* what) {
      fs::path d = fs::path(p).is_relative() ? options_.project_dir / p : fs::path(p);
      std::error_code ec;
      if (!fs::is_directory(d, ec))
        throw UserError(std::string("capture_file_system_changes ") + what + " " + p + " is not a directory");
      return fs::weakly_canonical(d).string();
    };
    job.capture_file_system_changes = CaptureFileSystemChanges{dir(cap->upper, "upper"), dir(cap->work, "work")};
    job.enable_writable_file_system = true;
  }
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
  job.limits = spec.limits;
  job.priority = spec.priority;
  job.estimated_duration = spec.estimated_duration;
  return job;
}

JobId Client::run_job(const JobSpec& spec, StateCallback on_state, DoneCallback on_done,
                      WorkerCallback on_worker) {
  return *run_job_if(spec, nullptr, std::move(on_state), std::move(on_done), std::move(on_worker));
}

std::optional<JobId> Client::run_job_if(const JobSpec& spec, const Admit& admit, StateCallback on_state,
                                        DoneCallback on_done, WorkerCallback on_worker) {
  if (on_state) on_state(JobState::WaitingForArtifacts);
  // The layers stay pinned until the job ends: locally until it has run, with a
  // broker while they may still be uploaded.
  auto pins = std::make_shared<ArtifactStore::PinnedBlobs>();
  ResolvedJob job = resolve(spec, pins.get());
  if (admit && !admit(job)) return std::nullopt;  // the pins go with `pins`
  if (broker_ && !job.must_run_locally())
    return run_remote(std::move(job), std::move(pins), std::move(on_state), std::move(on_done),
                      std::move(on_worker));
  return local_executor().submit(std::move(job), std::move(on_state),
                                 [pins = std::move(pins), on_done = std::move(on_done)](JobOutcome o) {
                                   pins->release();
                                   if (on_done) on_done(std::move(o));
                                 });
}

JobId Client::run_remote(ResolvedJob job, std::shared_ptr<ArtifactStore::PinnedBlobs> pins,
                         StateCallback on_state, DoneCallback on_done, WorkerCallback on_worker) {
  // Per job: its id once submit returns, and whether it already ended (on_done
  // may run before submit returns, even inside it when the broker is gone).
  struct Tracking {
    std::optional<uint64_t> id;
    bool done = false;
  };
  auto t = std::make_shared<Tracking>();
  // A worker names a layer it cannot extract by its digest alone: say which of ours it is.
  auto name_layers = [this, layers = job.layers](std::string message) {
    for (const Digest& d : layers) {
      std::string bare = "layer sha256:" + d.hex();
      if (size_t at = message.find(bare); at != std::string::npos)
        message.replace(at, bare.size(), store_->describe(d));
    }
    return message;
  };
  auto state_cb = [on_state = std::move(on_state), on_worker = std::move(on_worker)](
                      JobState s, const std::string& worker) {
    if (on_worker && s == JobState::Running && !worker.empty()) on_worker(worker);
    if (on_state) on_state(s);
  };
  auto done_cb = [this, t, pins = std::move(pins), on_done = std::move(on_done),
                  name_layers = std::move(name_layers)](JobOutcome o) {
    {
      std::lock_guard lk(remote_mu_);
      t->done = true;
      if (t->id) remote_jobs_.erase(*t->id);
    }
    pins->release();
    if (auto* e = std::get_if<JobError>(&o.result)) e->message = name_layers(std::move(e->message));
    if (on_done) on_done(std::move(o));
  };
  uint64_t id = broker_->submit(std::move(job), std::move(state_cb), std::move(done_cb));
  {
    std::lock_guard lk(remote_mu_);
    t->id = id;
    if (!t->done) remote_jobs_.insert(id);
  }
  return id | kRemoteBit;
}

void Client::forget_layers() {
  layer_memo_.clear();
  layers_->forget_commands();
}

void Client::cancel(JobId id) {
  if (id & kRemoteBit) {
    if (broker_) broker_->cancel(id & ~kRemoteBit);
  } else if (LocalExecutor* e = executor_ptr_.load()) {
    e->cancel(id);
  }
}

void Client::cancel_all() {
  if (LocalExecutor* e = executor_ptr_.load()) e->cancel_all();
  if (!broker_) return;
  std::set<uint64_t> ids;
  {
    std::lock_guard lk(remote_mu_);
    ids = remote_jobs_;
  }
  for (uint64_t id : ids) broker_->cancel(id);
}

std::optional<std::string> Client::broker_error() const {
  return broker_ ? broker_->error() : std::nullopt;
}

void Client::wait_idle() {
  // A job finishing on one side may submit another on the other: wait until both are idle at once.
  for (;;) {
    LocalExecutor* e = executor_ptr_.load();
    if (e) e->wait_idle();
    if (broker_) broker_->wait_idle();
    e = executor_ptr_.load();
    bool local_idle = !e || (e->queued() == 0 && e->running() == 0);
    if (local_idle && (!broker_ || broker_->outstanding() == 0)) return;
  }
}

}  // namespace mael
