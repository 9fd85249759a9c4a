#include "cluster/connection_guard.h"

#include <arpa/inet.h>
#include <grpc/support/sync.h>
#include <grpcpp/impl/server_builder_option.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"

namespace mael::cluster {

namespace {

// Descriptors kept for the broker itself: cache files, gRPC's own, the web page's 16 connections.
constexpr uint64_t kReservedFds = 96;
constexpr uint64_t kMinConnections = 32;

// gRPC does not install its socket_mutator.h; these mirror its layout, unchanged
// since gRPC 1.31: a grpc_socket_mutator is {vtable, refcount}, and the vtable
// holds mutate_fd, compare, destroy and mutate_fd_2 in that order.
enum FdUsage : int { kClientConnection = 0, kServerListener = 1, kServerConnection = 2 };
struct SocketInfo {
  int fd;
  FdUsage usage;
};
struct MutatorVtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator* m);
  int (*compare)(grpc_socket_mutator* a, grpc_socket_mutator* b);
  void (*destroy)(grpc_socket_mutator* m);
  bool (*mutate_fd_2)(const SocketInfo* info, grpc_socket_mutator* m);
};

std::string host_of(const sockaddr_storage& a, uint16_t* port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &v4.sin_addr, buf, sizeof buf);
    *port = ntohs(v4.sin_port);
    return buf;
  }
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
  *port = ntohs(v6.sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {  // as gRPC names such peers: the IPv4 address
    ::inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], buf, sizeof buf);
    return buf;
  }
  ::inet_ntop(AF_INET6, &v6.sin6_addr, buf, sizeof buf);
  return std::string("[") + buf + "]";
}

}  // namespace

std::string peer_address(std::string p) {
  for (const char* prefix : {"ipv4:", "ipv6:"})
    if (p.rfind(prefix, 0) == 0) p = p.substr(5);
  for (auto [from, to] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}})
    for (size_t i; (i = p.find(from)) != std::string::npos;) p.replace(i, 3, to);
  return p;
}

uint64_t raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    rlim_t old = r.rlim_cur;
    r.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &r) == 0)
      log::debug("raised the open-file limit from {} to {}", static_cast<uint64_t>(old),
                 static_cast<uint64_t>(r.rlim_cur));
    else
      ::getrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : static_cast<uint64_t>(r.rlim_cur);
}

struct ConnectionGuard::Mutator {
  // First, so that a Mutator* is the grpc_socket_mutator* gRPC sees.
  const MutatorVtable* vtable;
  gpr_refcount refcount;
  std::atomic<ConnectionGuard*> guard;

  static bool mutate(const SocketInfo* info, grpc_socket_mutator* m) {
    auto* self = reinterpret_cast<Mutator*>(m);
    // Never fail: gRPC 1.51 stops listening when a mutator fails on an accepted socket.
    ConnectionGuard* guard = self->guard.load();
    if (guard && (info->usage == kServerConnection || info->usage == kServerListener))
      guard->on_socket(info->fd, info->usage == kServerListener);
    return true;
  }
  static void destroy(grpc_socket_mutator* m);
  static constexpr MutatorVtable kVtable{
      [](int, grpc_socket_mutator*) { return true; },
      [](grpc_socket_mutator* a, grpc_socket_mutator* b) { return a < b   ? -1
                                                                  : a > b ? 1
                                                                          : 0; },
      &Mutator::destroy,  // the last reference went
      &Mutator::mutate,
  };
};

void ConnectionGuard::Mutator::destroy(grpc_socket_mutator* m) { delete reinterpret_cast<Mutator*>(m); }

namespace {

class MutatorOption final : public grpc::ServerBuilderOption {
 public:
  explicit MutatorOption(grpc_socket_mutator* m) : m_(m) {}
  void UpdateArguments(grpc::ChannelArguments* args) override { args->SetSocketMutator(m_); }
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*) override {}

 private:
  grpc_socket_mutator* m_;
};

}  // namespace

ConnectionGuard::ConnectionGuard(ConnectionLimits limits, uint64_t fd_limit) : limits_(limits) {
  // Connections waiting in the kernel to be accepted hold no descriptor yet, but gRPC accepts all
  // that wait at once: the backlog bounds how many arrive together.
  backlog_ = static_cast<int>(std::clamp<uint64_t>(fd_limit / 8, 32, 1024));
  // Open connections plus up to two backlogs being accepted or closed must fit.
  uint64_t room = fd_limit > kReservedFds + 2 * backlog_ ? fd_limit - kReservedFds - 2 * backlog_ : 0;
  if (room < kMinConnections)
    throw UserError(mael::format(
        "the open-file limit ({}) leaves room for only {} connections: raise it to at least {} (ulimit -n, "
        "or LimitNOFILE= in the systemd unit)",
        fd_limit, room, kReservedFds + 2 * backlog_ + kMinConnections));
  if (limits_.max_connections > room) {
    log::info("max-connections {} lowered to {} by the open-file limit ({})", limits_.max_connections, room,
              fd_limit);
    limits_.max_connections = room;
  }
  limits_.max_per_peer = std::min(limits_.max_per_peer, limits_.max_connections);
  mutator_ = new Mutator;
  mutator_->vtable = &Mutator::kVtable;
  gpr_ref_init(&mutator_->refcount, 1);  // ours; install() adds the server's arguments' own
  mutator_->guard = this;
}

ConnectionGuard::~ConnectionGuard() {
  mutator_->guard = nullptr;
  if (gpr_unref(&mutator_->refcount)) delete mutator_;
}

void ConnectionGuard::install(grpc::ServerBuilder& builder) {
  gpr_ref(&mutator_->refcount);  // the server's arguments own this one
  builder.SetOption(std::make_unique<MutatorOption>(reinterpret_cast<grpc_socket_mutator*>(mutator_)));
}

void ConnectionGuard::started() {
  std::lock_guard lk(mu_);
  int on = 0;
  socklen_t len = sizeof on;
  // listen() again on a listening socket only changes its backlog.
  if (listener_fd_ >= 0 && ::getsockopt(listener_fd_, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on)
    ::listen(listener_fd_, backlog_);
}

bool ConnectionGuard::alive(int fd, const Conn& c) const {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == c.inode;
}

void ConnectionGuard::forget(std::map<int, Conn>::iterator it) {
  if (auto h = per_host_.find(it->second.host); h != per_host_.end() && --h->second == 0) per_host_.erase(h);
  conns_.erase(it);
}

void ConnectionGuard::sweep() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    auto next = std::next(it);
    if (!alive(it->first, it->second)) forget(it);
    it = next;
  }
}

size_t ConnectionGuard::count_host(const std::string& host) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    auto next = std::next(it);
    if (it->second.host == host && !alive(it->first, it->second)) forget(it);
    it = next;
  }
  auto h = per_host_.find(host);
  return h == per_host_.end() ? 0 : h->second;
}

void ConnectionGuard::cut(int fd) {
  linger l{1, 0};  // a reset rather than a lingering close
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::shutdown(fd, SHUT_RDWR);
}

void ConnectionGuard::note_refusal(const std::string& what) {
  // At most one line a second, however hard the flood; flush_log says the rest.
  ++unlogged_;
  last_refusal_ = what;
  auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < std::chrono::seconds(1)) return;
  log::warn("turned away {} connection{} over the limits (the last: {})", unlogged_,
            unlogged_ == 1 ? "" : "s", what);
  last_log_ = now;
  unlogged_ = 0;
}

void ConnectionGuard::flush_log() {
  std::lock_guard lk(mu_);
  if (unlogged_ == 0 || std::chrono::steady_clock::now() - last_log_ < std::chrono::seconds(1)) return;
  --unlogged_;  // note_refusal counts it again
  note_refusal(last_refusal_);
}

void ConnectionGuard::on_socket(int fd, bool listener) {
  if (listener) {
    std::lock_guard lk(mu_);
    listener_fd_ = fd;
    return;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  struct stat st;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || ::fstat(fd, &st) != 0) return;
  uint16_t port = 0;
  std::string host = host_of(addr, &port);
  std::lock_guard lk(mu_);
  if (auto old = conns_.find(fd); old != conns_.end()) forget(old);  // that one ended: its number is reused
  if (count_host(host) >= limits_.max_per_peer) {
    cut(fd);
    stats_.refused++;
    note_refusal(
        mael::format("refused one from {}: over max-connections-per-peer ({})", host, limits_.max_per_peer));
    return;
  }
  if (conns_.size() >= limits_.max_connections) sweep();
  if (conns_.size() >= limits_.max_connections) {
    auto oldest = conns_.end();
    for (auto it = conns_.begin(); it != conns_.end(); ++it)
      if (!it->second.proven && (oldest == conns_.end() || it->second.since < oldest->second.since))
        oldest = it;
    if (oldest == conns_.end()) {
      cut(fd);
      stats_.refused++;
      note_refusal(mael::format("refused one from {}: max-connections ({}) are open and authenticated", host,
                                limits_.max_connections));
      return;
    }
    cut(oldest->first);
    stats_.dropped++;
    note_refusal(
        mael::format("dropped one from {} that had made no authenticated call, to make room under "
                     "max-connections ({})",
                     oldest->second.peer, limits_.max_connections));
    forget(oldest);
  }
  std::string peer = host + ":" + std::to_string(port);
  conns_[fd] = Conn{static_cast<uint64_t>(st.st_ino), host, peer, std::chrono::steady_clock::now(), false};
  per_host_[host]++;
}

void ConnectionGuard::proven(const std::string& grpc_peer) {
  std::string peer = peer_address(grpc_peer);
  std::lock_guard lk(mu_);
  // A handful of calls per connection: a scan of the table is cheap next to the call.
  for (auto& [fd, c] : conns_)
    if (c.peer == peer) {
      c.proven = true;
      return;
    }
}

ConnectionGuard::Stats ConnectionGuard::stats() const {
  std::lock_guard lk(mu_);
  Stats s = stats_;
  s.connections = conns_.size();
  return s;
}

}  // namespace mael::cluster
