#pragma once
// maelstrom-broker: accepts clients, workers and admin tools over gRPC, each
// call checked against the role it needs (cluster/roles.h) and every
// connection against the limits of cluster/connection_guard.h; schedules jobs
// (cluster/scheduler.h), relays artifacts client -> broker -> worker through
// its own ArtifactStore with bounded uploads, and serves a status page over
// HTTP or HTTPS (admins only when security is on).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cluster/connection_guard.h"
#include "cluster/protocol.h"
#include "cluster/roles.h"
#include "cluster/security.h"

namespace mael::cluster {

struct BrokerOptions {
  uint16_t port = 0;                      // 0: pick a free port
  std::optional<uint16_t> http_port = 0;  // nullopt: no status page
  std::string http_address = "127.0.0.1";
  std::filesystem::path cache_root;
  uint64_t cache_size = 1'000'000'000;
  // The broker's certificate and key (TLS on the RPC port and the status page);
  // ca_file: peers must present a certificate it signed, naming their roles.
  TlsOptions tls;
  BrokerAuth auth;  // the role tokens (certificates follows tls.ca_file)
  std::chrono::milliseconds heartbeat_timeout = kDefaultHeartbeatTimeout;
  // Queued jobs fail once no worker has been connected for this long (0: never).
  std::chrono::milliseconds no_worker_timeout{120000};
  // A connection must finish its TLS and HTTP/2 handshake, and then start a
  // call, within this long (and is closed after this long without a call).
  std::chrono::milliseconds handshake_timeout{10000};
  ConnectionLimits connections;
  size_t max_concurrent_uploads = 16;
  size_t max_uploads_per_client = 4;
  uint64_t max_upload_size = 0;     // the largest blob accepted; 0: cache_size
  uint64_t client_cache_limit = 0;  // a client's uploads still in use, at most; 0: cache_size
  int max_job_losses = kMaxJobLosses;
};

class Broker {
 public:
  explicit Broker(BrokerOptions options);  // listening when it returns
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  uint16_t port() const;
  std::optional<uint16_t> http_port() const;

  // Blocks until stop() or an admin's Stop request, then tells workers to exit
  // and stops serving.
  void wait();
  // Safe from any thread. Clients are told the broker stopped, with `reason`
  // (e.g. "SIGTERM"), and their unfinished jobs end on their side.
  void stop(std::string reason = "");

  std::string status_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mael::cluster
