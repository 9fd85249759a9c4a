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
#include <set>
#include <string>
#include <vector>

#include "base/env_expand.h"
#include "client/layer_memo.h"
#include "executor/executor.h"
#include "image/image_depot.h"
#include "spec/resolve.h"
#include "spec/spec.h"
#include "store/artifact_store.h"

namespace mael {

class ArtifactStore;
class LayerBuilder;
class Runtime;
class ImageDepot;
namespace cluster {
class BrokerConnection;
}

struct ClientOptions {
  std::filesystem::path project_dir;  // relative layer and bind paths start here
  std::filesystem::path cache_root;   // the local artifact store and executor scratch
  uint64_t cache_size = 1'000'000'000;
  // When another process uses the cache: wait for it (one line says so), or fail at once.
  bool cache_lock_wait = true;
  size_t slots = 0;  // 0: one per CPU
  size_t inline_limit = 1'000'000;
  std::filesystem::path container_image_depot_root;
  uint64_t container_image_depot_size = kDefaultDepotSizeLimit;  // bytes of blobs kept; 0 = no bound
  bool accept_invalid_remote_container_tls_certs = false;
  std::vector<std::string> insecure_registries;  // container-insecure-registries: "host[:port]"
  bool image_progress = true;
  std::optional<std::string> broker;  // host:port; standalone when unset
  // Credentials for the broker (cluster/security.h TlsOptions): PEM files and the shared token.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string token;
  std::string client_name;  // shown on the broker's status page; default "HOST pid N"
  // Jobs run on this machine: their limits, and the runtime's options (the
  // host ids jobs run as when we run as root).
  ContainerLimits job_limits = ContainerLimits::defaults();
  RuntimeOptions runtime;
};

class Client {
 public:
  using StateCallback = LocalExecutor::StateCallback;
  using DoneCallback = LocalExecutor::DoneCallback;

  // Standalone: checks that containers can run here (UserError naming the fix
  // otherwise). With a broker: connects to it (UserError naming the broker when
  // it cannot); the container check waits for the first job that must run here.
  explicit Client(ClientOptions options, EnvLookup env = process_env_lookup());
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Named containers for jobs' `parent`. A later definition replaces an earlier one.
  void add_container(const std::string& name, ContainerSpec spec);
  // The images being looked up (pulled, when not in the depot yet) for jobs now, each once.
  std::vector<std::string> images_downloading() const;
  // With a broker: the layers being uploaded to it now (named as the store describes them).
  struct Upload {
    std::string name;
    uint64_t size = 0;
    uint64_t sent = 0;
  };
  std::vector<Upload> uploads_in_progress() const;
  // The broker's HOST:PORT with a cluster.
  const std::optional<std::string>& broker_address() const { return options_.broker; }

  // Resolves and submits a job. Throws UserError for a spec that cannot run
  // (unknown container, missing layer file, bad image...). on_done is called
  // exactly once, from another thread (with a System error if the broker goes
  // away). With a broker, jobs go to the cluster unless they must run locally
  // (ResolvedJob::must_run_locally). Ids of cluster jobs have the top bit set.
  // on_worker: for a cluster job, the broker's name of the worker it runs on ("worker N (NAME)"),
  // given just before on_state(Running).
  using WorkerCallback = std::function<void(const std::string& worker)>;
  JobId run_job(const JobSpec& spec, StateCallback on_state, DoneCallback on_done,
                WorkerCallback on_worker = nullptr);
  // As run_job, but once the job is resolved (its layers are digests) and before it is
  // submitted, `admit` decides whether it runs at all: when it says no, nothing is submitted,
  // on_done is never called, and the result is nullopt (the test runners' cached results).
  using Admit = std::function<bool(const ResolvedJob&)>;
  std::optional<JobId> run_job_if(const JobSpec& spec, const Admit& admit, StateCallback on_state,
                                  DoneCallback on_done, WorkerCallback on_worker = nullptr);

  // Resolution alone (exposed for tests and for callers with their own
  // executor). With `pins`, the job's layer blobs are pinned there, so that a
  // small cache cannot evict them before the job has run: keep it until then.
  ResolvedJob resolve(const JobSpec& spec, ArtifactStore::PinnedBlobs* pins = nullptr);

  // Layers are built once per spec for the client's life; after this, once more (for files a
  // build rewrote after jobs had already used them).
  void forget_layers();

  // Both cover the local executor and the broker's jobs. cancel() of a job that ended does
  // nothing; a cancelled job ends with a System error.
  void cancel(JobId id);
  void cancel_all();
  void wait_idle();
  bool remote() const { return broker_ != nullptr; }
  // Once the broker has stopped or gone away: why, in one line naming it (the
  // connection has logged it, and the System error of every cluster job that
  // did not finish carries exactly this message). nullopt otherwise.
  std::optional<std::string> broker_error() const;
  ArtifactStore& store() { return *store_; }

 private:
  ImageContribution lookup_image(const std::string& name);
  Digest layer_digest(const LayerSpec& layer);  // memoized in layer_memo_
  Digest build_layer(const LayerSpec& layer);
  LocalExecutor& local_executor();
  JobId run_remote(ResolvedJob job, std::shared_ptr<ArtifactStore::PinnedBlobs> pins, StateCallback on_state,
                   DoneCallback on_done, WorkerCallback on_worker);

  ClientOptions options_;
  EnvLookup env_;
  std::unique_ptr<ArtifactStore> store_;
  std::unique_ptr<LayerBuilder> layers_;
  std::mutex local_mu_;  // guards creating runtime_ and executor_ (lazily with a broker)
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<LocalExecutor> executor_;
  std::atomic<LocalExecutor*> executor_ptr_{nullptr};
  mutable std::mutex mu_;  // guards the next four; never held across a pull or a build
  NamedContainers containers_;
  std::unique_ptr<ImageDepot> images_;  // made on first use, then kept
  std::map<std::string, Digest> image_layer_digests_;  // image layer tar path -> blob digest
  std::multiset<std::string> images_in_use_;            // names being looked up now
  LayerMemo layer_memo_;  // this client's layers by spec: each distinct spec is built once
  std::mutex remote_mu_;
  std::set<uint64_t> remote_jobs_;  // outstanding broker job ids, for cancel_all
  // Last: its callbacks use the members above, so it goes first.
  std::unique_ptr<cluster::BrokerConnection> broker_;
};

}  // namespace mael
