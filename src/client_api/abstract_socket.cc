#include "client_api/abstract_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>

#include "base/error.h"

namespace mael::client_api {

AbstractListener listen_abstract() {
  AbstractListener l;
  l.fd.reset(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // An address of the family alone asks the kernel for a unique abstract name.
  check_sys(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(sa_family_t)), "bind (autobind)");
  check_sys(::listen(l.fd.get(), 1), "listen");
  socklen_t len = sizeof addr;
  check_sys(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
  size_t path_len = len - offsetof(sockaddr_un, sun_path);
  if (path_len < 2 || addr.sun_path[0] != '\0') throw std::runtime_error("autobind gave no abstract name");
  l.name.assign(addr.sun_path + 1, path_len - 1);
  return l;
}

UniqueFd accept_one(const AbstractListener& listener, const std::function<bool()>& keep_waiting) {
  for (;;) {
    pollfd p{listener.fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, 200);
    if (n < 0 && errno != EINTR) throw_errno("poll");
    if (n > 0) {
      // Non-blocking: gRPC drives the connection from its poller and does not set it itself.
      int fd = ::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) return UniqueFd(fd);
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) throw_errno("accept");
    }
    if (!keep_waiting()) return UniqueFd();
  }
}

}  // namespace mael::client_api
