#pragma once
// Keeps the broker's gRPC port serving under a flood of connections.
//
// gRPC 1.51 (Debian 12) stops accepting for good the first time accept() fails
// with EMFILE, and it has no limit on connections per peer or in all. So the
// broker raises its descriptor limit to the hard limit, and this guard sees
// every connection gRPC accepts (a socket mutator, gRPC's hook on each socket
// it makes) before gRPC reads from it:
// - a peer address over max_per_peer connections has its new one refused;
// - at max_connections in all, the oldest connection that has not yet made an
//   authenticated call is dropped to make room (else the new one is refused);
//   max_connections is also capped so that the connections, a full accept
//   backlog and the broker's own files fit in the descriptor limit;
// - the listen backlog is shortened to fit the same budget.
// Refused and dropped connections are shut down at once (gRPC then closes
// them). gRPC itself times out connections that do not finish the TLS and
// HTTP/2 handshake, and those idle without a call (see Broker).
//
// Connections are tracked by descriptor and socket inode: gRPC closes them
// without telling us, and a descriptor whose inode changed (or that is
// closed) is a connection that ended.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace mael::cluster {

// gRPC's name for a peer ("ipv6:%5B::1%5D:4000") as the broker logs it ("[::1]:4000").
std::string peer_address(std::string grpc_peer);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in effect.
uint64_t raise_fd_limit();

struct ConnectionLimits {
  size_t max_connections = 4096;
  size_t max_per_peer = 100;
};

class ConnectionGuard {
 public:
  // fd_limit: the process's descriptor limit (raise_fd_limit()). Throws
  // UserError when it leaves room for too few connections.
  ConnectionGuard(ConnectionLimits limits, uint64_t fd_limit);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Hooks the guard into a server being built (before BuildAndStart).
  void install(grpc::ServerBuilder& builder);
  // After BuildAndStart: shortens the listen backlog.
  void started();

  // An authenticated call came over this connection (gRPC's peer string,
  // "ipv4:1.2.3.4:5678"): it is kept when room must be made.
  void proven(const std::string& grpc_peer);

  // Logs what was turned away since the last line, if anything (the broker's ticker calls it).
  void flush_log();

  size_t max_connections() const { return limits_.max_connections; }
  struct Stats {
    size_t connections = 0;  // open now (as last seen)
    uint64_t refused = 0;    // since start
    uint64_t dropped = 0;    // unproven connections closed to make room
  };
  Stats stats() const;

  // Called by the socket mutator (any gRPC thread). Public for the C callback.
  void on_socket(int fd, bool listener);

 private:
  struct Conn {
    uint64_t inode;
    std::string host;  // peer address without the port
    std::string peer;  // "1.2.3.4:5678" / "[::1]:5678", as Broker logs peers
    std::chrono::steady_clock::time_point since;
    bool proven = false;
  };
  bool alive(int fd, const Conn& c) const;
  void forget(std::map<int, Conn>::iterator it);  // under mu_
  void sweep();                                   // under mu_: forgets ended connections
  size_t count_host(const std::string& host);     // under mu_, after sweeping that host
  void cut(int fd);                               // shuts a socket down at once
  void note_refusal(const std::string& what);     // under mu_, rate-limited log

  ConnectionLimits limits_;
  int backlog_;
  // Reference-counted by gRPC, which may drop its last reference after we are
  // gone (a server's channels are torn down on its own threads): we hold one
  // reference, and it is freed with the last.
  struct Mutator;
  Mutator* mutator_ = nullptr;
  mutable std::mutex mu_;
  int listener_fd_ = -1;                            // under mu_
  std::map<int, Conn> conns_;                       // under mu_: by descriptor
  std::map<std::string, size_t> per_host_;          // under mu_
  Stats stats_;                                     // under mu_ (connections unused)
  std::chrono::steady_clock::time_point last_log_;  // under mu_
  uint64_t unlogged_ = 0;                           // under mu_
  std::string last_refusal_;                        // under mu_
};

}  // namespace mael::cluster
