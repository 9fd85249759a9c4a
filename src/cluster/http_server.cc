#include "cluster/http_server.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"

namespace mael::cluster {

HttpServer::HttpServer(uint16_t port, Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = check_sys(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket for the web page");
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
    throw UserError(fmt::format("cannot listen on http port {}: {}; choose another --http-port", port,
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

void HttpServer::loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{5, 0};  // a silent peer cannot hold the page hostage
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    try {
      serve(fd);
    } catch (const std::exception& e) {
      spdlog::debug("web page request failed: {}", e.what());
    }
    ::close(fd);
  }
}

void HttpServer::serve(int fd) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, n);
    if (req.size() > 16384) return;  // headers this long are not from our page
  }
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
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: "
      "close\r\n\r\n",
      resp.status, reason, resp.content_type, resp.body.size());
  out += resp.body;
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += n;
  }
}

}  // namespace mael::cluster
