#include "container/tty_job.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stddef.h>
#include <thread>

#include "base/error.h"
#include "base/unique_fd.h"
#include "container/pty.h"
#include "container/tty_stream.h"

namespace mael {

namespace {

// Writes everything to the socket; false when its peer is gone (no SIGPIPE).
bool send_all(int sock, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(sock, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads what the job wrote (master non-blocking) and sends it; false once the job's side closed.
bool pump(int master, int sock, bool& peer_open) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0) {
      if (peer_open) peer_open = send_all(sock, std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;  // EIO: no slave open any more
  }
}

// Until `done` (an eventfd) is readable: the socket's input to the job, the job's output to the
// socket. Then what the job wrote last.
void relay(int sock, int master, int done) {
  TtyInputDecoder decoder;
  std::string to_job;
  bool sock_open = true, peer_open = true, master_open = true;
  for (;;) {
    pollfd fds[3];
    int n = 0, i_sock = -1, i_master = -1;
    if (sock_open && to_job.empty()) fds[i_sock = n++] = {sock, POLLIN, 0};
    if (master_open) fds[i_master = n++] = {master, static_cast<short>(POLLIN | (to_job.empty() ? 0 : POLLOUT)), 0};
    const int i_done = n++;
    fds[i_done] = {done, POLLIN, 0};
    if (::poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (i_master >= 0 && (fds[i_master].revents & (POLLIN | POLLHUP | POLLERR)))
      master_open = pump(master, sock, peer_open);
    if (i_master >= 0 && (fds[i_master].revents & POLLOUT) && !to_job.empty()) {
      ssize_t w = ::write(master, to_job.data(), to_job.size());
      if (w > 0)
        to_job.erase(0, static_cast<size_t>(w));
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        to_job.clear();
    }
    if (fds[i_done].revents) {
      if (master_open) pump(master, sock, peer_open);
      return;
    }
    if (i_sock >= 0 && fds[i_sock].revents) {
      char buf[4096];
      ssize_t got = ::recv(sock, buf, sizeof buf, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        sock_open = false;  // the client stopped typing (or went away)
        continue;
      }
      decoder.feed(
          std::string_view(buf, static_cast<size_t>(got)), [&](std::string_view b) { to_job.append(b); },
          [&](WindowSize w) {
            if (master_open) set_window_size(master, w);
          });
    }
  }
}

}  // namespace

JobOutcome run_with_tty_socket(Runtime& runtime, const ContainerConfig& config, const CancelToken* cancel) {
  const JobTty& tty = *config.tty;
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return JobOutcome{JobError{JobErrorKind::Execution, std::string("tty socket: ") + std::strerror(errno)}, {}};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::min(tty.socket_address.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, tty.socket_address.data(), len);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len)) != 0)
    return JobOutcome{JobError{JobErrorKind::Execution, std::string("connecting to the job's tty socket: ") + std::strerror(errno)}, {}};
  std::optional<WindowSize> size;
  if (tty.rows && tty.columns) size = WindowSize{tty.rows, tty.columns};
  Pty pty = open_pty(size);
  int flags = ::fcntl(pty.master.get(), F_GETFL);
  if (flags >= 0) ::fcntl(pty.master.get(), F_SETFL, flags | O_NONBLOCK);
  UniqueFd done(::eventfd(0, EFD_CLOEXEC));
  if (!done.valid()) return JobOutcome{JobError{JobErrorKind::Execution, std::string("eventfd: ") + std::strerror(errno)}, {}};
  std::thread relayer([&] { relay(sock.get(), pty.master.get(), done.get()); });
  JobOutcome out;
  try {
    ContainerConfig with_tty = config;
    with_tty.terminal = pty.slave.get();
    out = runtime.run(with_tty, cancel);
  } catch (const std::exception& e) {
    out = JobOutcome{JobError{JobErrorKind::Execution, e.what()}, {}};
  }
  pty.slave.reset();  // the master reads EIO once the job's copies are gone too
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(done.get(), &one, sizeof one);
  relayer.join();
  return out;  // the socket closes here: the client reads the end of the output
}

}  // namespace mael
