#pragma once
// The client's side of the cluster: submits ResolvedJobs to a broker, reports
// their states and outcomes, and uploads the layer blobs the broker asks for.
// If the broker stops (it says so first) or goes away, the reason is logged
// once as an error and every outstanding job ends at once with a System error
// carrying the same message, which names the broker; later submissions fail
// the same way and error() returns it.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/security.h"
#include "spec/spec.h"

namespace mael::cluster {

struct BrokerConnectionOptions {
  std::string name = "client";  // shown on the broker's status page
  std::chrono::milliseconds connect_timeout{10000};
  size_t upload_threads = 4;
  uint32_t protocol_version = 0;  // 0: ours; tests set another to check refusal
};

// Sends gRPC's own log lines (e.g. a failed TLS handshake, which the
// connection reports itself as one line) to the debug log instead of stderr.
// Process-wide: clients call it while setting up.
void quiet_grpc_logging();

class BrokerConnection {
 public:
  // worker: set for Running ("worker 3 (host)"), empty otherwise.
  using StateCallback = std::function<void(JobState state, const std::string& worker)>;
  using DoneCallback = std::function<void(JobOutcome)>;
  // Where a layer blob lives on this machine (e.g. the client's ArtifactStore
  // blob_path), or nullopt if unknown.
  using BlobProvider = std::function<std::optional<std::filesystem::path>(const Digest&)>;

  // Connects and shakes hands; throws UserError naming the broker when it
  // cannot (unreachable, refused credentials, protocol version mismatch).
  BrokerConnection(std::string host_port, TlsOptions tls, BlobProvider blobs,
                   BrokerConnectionOptions options = {});
  // Disconnects; outstanding jobs end with a System error (the broker cancels them).
  ~BrokerConnection();
  BrokerConnection(const BrokerConnection&) = delete;
  BrokerConnection& operator=(const BrokerConnection&) = delete;

  // Callbacks run on the connection's reader thread (or, when the connection
  // is already gone, inside submit). on_done runs exactly once.
  uint64_t submit(ResolvedJob job, StateCallback on_state, DoneCallback on_done);
  void cancel(uint64_t job_id);
  // Blocks until no job is outstanding and every on_done has returned.
  void wait_idle();
  size_t outstanding() const;
  // Why the connection ended, or nullopt while it is up.
  std::optional<std::string> error() const;

  // The layer blobs being uploaded now, with the bytes sent so far.
  struct UploadProgress {
    Digest digest;
    uint64_t size = 0;
    uint64_t sent = 0;
  };
  std::vector<UploadProgress> uploads_in_progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mael::cluster
