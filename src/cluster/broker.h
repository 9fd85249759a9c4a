#pragma once
// maelstrom-broker: accepts clients, workers and admin tools over gRPC,
// schedules jobs (cluster/scheduler.h), relays artifacts client -> broker ->
// worker through its own ArtifactStore, and serves a status page over HTTP.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cluster/protocol.h"
#include "cluster/security.h"

namespace mael::cluster {

struct BrokerOptions {
  uint16_t port = 0;                      // 0: pick a free port
  std::optional<uint16_t> http_port = 0;  // nullopt: no status page
  std::filesystem::path cache_root;
  uint64_t cache_size = 1'000'000'000;
  TlsOptions tls;
  std::chrono::milliseconds heartbeat_timeout = kDefaultHeartbeatTimeout;
  size_t max_concurrent_uploads = 8;
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
