#pragma once
// The client library: the one door through which maelstrom-run, the test
// runners and the ClientProcess service submit jobs. It resolves a JobSpec
// (named containers, images, layers built into the artifact store, environment
// expanded) into a ResolvedJob and runs it on the local executor, or on a
// cluster when a broker is configured (jobs that must run locally stay here).
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/env_expand.h"
#include "executor/executor.h"
#include "spec/resolve.h"
#include "spec/spec.h"

namespace mael {

class ArtifactStore;
class LayerBuilder;
class Runtime;
class ImageDepot;

struct ClientOptions {
  std::filesystem::path project_dir;       // relative layer and bind paths start here
  std::filesystem::path cache_root;        // the local artifact store and executor scratch
  uint64_t cache_size = 1'000'000'000;
  size_t slots = 0;                        // 0: one per CPU
  size_t inline_limit = 1'000'000;
  std::filesystem::path container_image_depot_root;
  bool accept_invalid_remote_container_tls_certs = false;
  std::vector<std::string> insecure_registries;
  bool image_progress = true;
  std::optional<std::string> broker;       // host:port; standalone when unset
};

class Client {
 public:
  using StateCallback = LocalExecutor::StateCallback;
  using DoneCallback = LocalExecutor::DoneCallback;

  // Checks that containers can run here (UserError naming the fix otherwise).
  explicit Client(ClientOptions options, EnvLookup env = process_env_lookup());
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Named containers for jobs' `parent`. A later definition replaces an earlier one.
  void add_container(const std::string& name, ContainerSpec spec);

  // Resolves and submits a job. Throws UserError for a spec that cannot run
  // (unknown container, missing layer file, bad image...). on_done is called
  // exactly once, from another thread.
  JobId run_job(const JobSpec& spec, StateCallback on_state, DoneCallback on_done);

  // Resolution alone (exposed for tests and for runners that batch jobs).
  ResolvedJob resolve(const JobSpec& spec);

  void cancel_all();
  void wait_idle();
  ArtifactStore& store() { return *store_; }

 private:
  ImageContribution lookup_image(const std::string& name);
  Digest layer_digest(const LayerSpec& layer);

  ClientOptions options_;
  EnvLookup env_;
  std::unique_ptr<ArtifactStore> store_;
  std::unique_ptr<LayerBuilder> layers_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<LocalExecutor> executor_;
  std::mutex mu_;
  NamedContainers containers_;
  std::unique_ptr<ImageDepot> images_;
  std::map<std::string, Digest> image_layer_digests_;  // image layer tar path -> blob digest
};

}  // namespace mael
