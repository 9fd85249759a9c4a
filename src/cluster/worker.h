#pragma once
// maelstrom-worker: connects to the broker, fetches the layers of the jobs it
// is given into its own ArtifactStore (SHA-256 verified), and runs them on the
// same LocalExecutor as the client's standalone mode. Reconnects with backoff
// when the broker goes away; exits when the broker says so.
#include <chrono>
#include <memory>
#include <string>

#include "cluster/local_features.h"
#include "cluster/protocol.h"
#include "cluster/security.h"
#include "executor/executor.h"

namespace mael {
class ArtifactStore;
}

namespace mael::cluster {

struct WorkerOptions {
  std::string broker;  // host:port
  std::string name;    // shown by the broker; default hostname
  size_t slots = 0;    // 0: number of CPUs
  size_t inline_limit = 1 << 20;
  // Every job's limits (job-max-processes, ...); a job may ask for less.
  ContainerLimits limits = ContainerLimits::defaults();
  // What of the host this worker lets the broker's jobs use (allow-bind-mounts,
  // allow-local-network); a job that needs more is refused before it runs.
  WorkerFeatures features;
  TlsOptions tls;
  std::chrono::milliseconds heartbeat_interval = kHeartbeatInterval;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  size_t fetch_threads = 2;
  uint32_t protocol_version = 0;  // 0: ours; tests set another to check refusal
};

class Worker {
 public:
  Worker(WorkerOptions options, ArtifactStore& store, ContainerRunner runner);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Serves until the broker sends Shutdown or stop() is called. Throws
  // UserError when the broker refuses this worker for good (protocol version,
  // credentials); reconnects with backoff on anything else.
  void run();
  void stop();  // safe from any thread

 private:
  struct Session;
  bool run_session();  // true: stop for good

  WorkerOptions options_;
  ArtifactStore& store_;
  ContainerRunner runner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  Session* session_ = nullptr;  // the live one, for stop()
};

}  // namespace mael::cluster
