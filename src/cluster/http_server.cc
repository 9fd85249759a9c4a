#include "cluster/http_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"

namespace mael::cluster {

HttpServer::HttpServer(uint16_t port, Handler handler) : handler_(std::move(handler)) {
  listen_fd_ =
      check_sys(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket for the web page");
  int one = 1, zero = 0;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int err = errno;
    ::close(listen_fd_);
    throw UserError(mael::format("cannot listen on http port {}: {}; choose another --http-port", port,
                                std::strerror(err)));
  }
  check_sys(::listen(listen_fd_, 64), "listen for the web page");
  socklen_t len = sizeof addr;
  check_sys(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
  port_ = ntohs(addr.sin6_port);
  stop_fd_ = check_sys(::eventfd(0, EFD_CLOEXEC), "eventfd");
  thread_ = std::thread([this] { loop(); });
}

HttpServer::~HttpServer() {
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

namespace {

constexpr size_t kMaxConnections = 64;
constexpr size_t kMaxRequestHead = 16384;  // headers this long are not from our page
// A peer that neither finishes its request nor takes the answer within this long is dropped.
constexpr std::chrono::seconds kConnectionDeadline{5};

struct Connection {
  int fd;
  std::chrono::steady_clock::time_point deadline;
  std::string in;
  std::string out;  // the response once the request is complete
  size_t sent = 0;
};

}  // namespace

void HttpServer::loop() {
  std::vector<Connection> conns;
  auto drop = [&](size_t i) {
    ::close(conns[i].fd);
    conns.erase(conns.begin() + static_cast<ptrdiff_t>(i));
  };
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    for (size_t i = conns.size(); i-- > 0;)
      if (conns[i].deadline <= now) drop(i);
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int timeout_ms = -1;
    for (const Connection& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now).count() + 1;
      timeout_ms = timeout_ms < 0 ? static_cast<int>(left) : std::min(timeout_ms, static_cast<int>(left));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    // Connections first (indexes match fds[2..]), newest accepts after.
    for (size_t i = conns.size(); i-- > 0;) {
      short ev = fds[i + 2].revents;
      if (!ev) continue;
      Connection& c = conns[i];
      bool done = false;
      try {
        if (c.out.empty()) {
          char buf[4096];
          ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (n <= 0) {
            done = true;
          } else {
            c.in.append(buf, static_cast<size_t>(n));
            if (c.in.find("\r\n\r\n") != std::string::npos)
              c.out = respond(c.in);
            else if (c.in.size() > kMaxRequestHead)
              done = true;
          }
        } else {
          ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (n <= 0)
            done = true;
          else if ((c.sent += static_cast<size_t>(n)) == c.out.size())
            done = true;
        }
      } catch (const std::exception& e) {
        log::debug("web page request failed: {}", e.what());
        done = true;
      }
      if (done) drop(i);
    }
    if (fds[0].revents) {
      for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        if (conns.size() >= kMaxConnections) drop(0);  // the oldest
        conns.push_back({fd, std::chrono::steady_clock::now() + kConnectionDeadline, {}, {}, 0});
      }
    }
  }
  for (Connection& c : conns) ::close(c.fd);
}

std::string HttpServer::respond(const std::string& req) {
  HttpResponse resp;
  std::string line = req.substr(0, req.find("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    resp = {400, "text/plain", "bad request\n"};
  } else if (line.substr(0, sp1) != "GET") {
    resp = {405, "text/plain", "only GET\n"};
  } else {
    std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    resp = handler_(path);
  }
  const char* reason = resp.status == 200 ? "OK" : resp.status == 404 ? "Not Found" : "Error";
  std::string out = mael::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: "
      "close\r\n\r\n",
      resp.status, reason, resp.content_type, resp.body.size());
  return out + resp.body;
}

}  // namespace mael::cluster
