#include "container/pty.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>

#include "base/error.h"
#include "container/tty_stream.h"

namespace mael {
namespace {

using Clock = std::chrono::steady_clock;
// How long an escape character waits for the next one (as Maelstrom does).
constexpr auto kEscapeWait = std::chrono::milliseconds(1500);
constexpr char kCtrlC = 0x03;
constexpr char kCtrlZ = 0x1a;

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // the user's terminal went away: nothing left to show it to
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Copies what the master has now to out; false once the job's side is closed.
bool pump_master(int master, int out) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0) {
      write_all(out, buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EAGAIN: nothing more now; EIO: no slave open any more.
    return n < 0 && errno == EAGAIN;
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::optional<WindowSize> window_size(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) < 0) return std::nullopt;
  return WindowSize{ws.ws_row, ws.ws_col};
}

void set_window_size(int fd, WindowSize size) {
  winsize ws{};
  ws.ws_row = size.rows;
  ws.ws_col = size.columns;
  check_sys(::ioctl(fd, TIOCSWINSZ, &ws), "setting the terminal's window size");
}

Pty open_pty(std::optional<WindowSize> size) {
  Pty pty;
  pty.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.master.valid()) throw_errno("opening a pseudo-terminal (/dev/ptmx)");
  check_sys(::grantpt(pty.master.get()), "grantpt");
  check_sys(::unlockpt(pty.master.get()), "unlockpt");
  if (size) set_window_size(pty.master.get(), *size);
  pty.slave.reset(::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.slave.valid()) throw_errno("opening the pseudo-terminal's slave");
  return pty;
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  check_sys(::tcgetattr(fd, &saved_), "reading the terminal's settings");
  enter();
}

void RawTerminal::enter() {
  termios raw = saved_;
  ::cfmakeraw(&raw);
  check_sys(::tcsetattr(fd_, TCSANOW, &raw), "putting the terminal in raw mode");
  raw_ = true;
}

void RawTerminal::restore() {
  if (!raw_) return;
  ::tcsetattr(fd_, TCSADRAIN, &saved_);
  raw_ = false;
}

char parse_escape_char(std::string_view text, std::string_view source) {
  std::optional<char> c = escape_char_from(text);
  if (!c) throw UserError(std::string(source) + ": \"" + std::string(text) + "\" is " + kBadEscapeChar);
  return *c;
}

std::optional<char> escape_char_from(std::string_view text) {
  int c = -1;
  if (text.size() == 1) {
    c = static_cast<unsigned char>(text[0]);
  } else if (text.size() == 2 && text[0] == '^') {
    char k = static_cast<char>(std::toupper(static_cast<unsigned char>(text[1])));
    if (k == '?')
      c = 0x7f;
    else if (k >= '@' && k <= '_')
      c = k - '@';
  } else if (text.size() >= 2 && text[0] == '\\') {
    std::string_view rest = text.substr(1);
    if (rest.size() == 1) {
      switch (rest[0]) {
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case '0': c = 0; break;
        case '\\': c = '\\'; break;
        case '\'': c = '\''; break;
        case '"': c = '"'; break;
        default: break;
      }
    } else if (rest.size() == 3 && rest[0] == 'x' && hex_digit(rest[1]) >= 0 && hex_digit(rest[2]) >= 0) {
      c = hex_digit(rest[1]) * 16 + hex_digit(rest[2]);
    }
  }
  if (c < 0 || c > 127) return std::nullopt;
  return static_cast<char>(c);
}

EscapeFilter::Action EscapeFilter::feed(std::string_view in, std::string& out, size_t* used) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (pending_) {
      pending_ = false;
      if (c == kCtrlC || c == kCtrlZ) {
        *used = i + 1;
        return c == kCtrlC ? Action::Kill : Action::Suspend;
      }
      out += escape_;
      if (c != escape_) out += c;
    } else if (c == escape_) {
      pending_ = true;
    } else {
      out += c;
    }
  }
  *used = in.size();
  return Action::None;
}

void EscapeFilter::flush(std::string& out) {
  if (pending_) out += escape_;
  pending_ = false;
}

RelayEnd relay_terminal(int in, int out, int master, int done, int signal_fd, char escape, RawTerminal& raw,
                        bool framed) {
  int flags = ::fcntl(master, F_GETFL);
  check_sys(flags < 0 ? -1 : ::fcntl(master, F_SETFL, flags | O_NONBLOCK), "fcntl on the pseudo-terminal");
  EscapeFilter filter(escape);
  std::string to_job;
  // Typed bytes and window sizes toward the job: straight into a pty, framed into a tty socket.
  auto typed = [&](const std::string& bytes) { to_job += framed ? encode_tty_input(bytes) : bytes; };
  auto resized = [&] {
    if (auto size = window_size(in)) {
      if (framed)
        to_job += encode_window_size_change(*size);
      else
        set_window_size(master, *size);
    }
  };
  bool in_open = true, master_open = true;
  Clock::time_point escape_deadline{};
  for (;;) {
    pollfd fds[4];
    int n = 0, i_in = -1, i_master = -1;
    if (in_open && to_job.empty()) fds[i_in = n++] = {in, POLLIN, 0};
    if (master_open)
      fds[i_master = n++] = {master, static_cast<short>(POLLIN | (to_job.empty() ? 0 : POLLOUT)), 0};
    const int i_done = n++, i_sig = n++;
    fds[i_done] = {done, POLLIN, 0};
    fds[i_sig] = {signal_fd, POLLIN, 0};
    int timeout = -1;
    if (filter.pending()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(escape_deadline - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    int rc = ::poll(fds, static_cast<nfds_t>(n), timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (rc == 0) {
      std::string flushed;
      filter.flush(flushed);
      typed(flushed);
    }
    if (fds[i_sig].revents) {
      signalfd_siginfo si{};
      if (::read(signal_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo != SIGWINCH) return {RelayEnd::Signal, static_cast<int>(si.ssi_signo)};
        resized();
      }
    }
    if (i_master >= 0 && (fds[i_master].revents & (POLLIN | POLLHUP | POLLERR)))
      master_open = pump_master(master, out);
    if (i_master >= 0 && (fds[i_master].revents & POLLOUT) && !to_job.empty()) {
      ssize_t w = framed ? ::send(master, to_job.data(), to_job.size(), MSG_NOSIGNAL)
                         : ::write(master, to_job.data(), to_job.size());
      if (w > 0)
        to_job.erase(0, static_cast<size_t>(w));
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        to_job.clear();  // the job's side is gone
    }
    if (fds[i_done].revents) {
      // The job ended: show what it wrote last, then stop.
      if (master_open) pump_master(master, out);
      return {RelayEnd::JobDone, 0};
    }
    if (i_in >= 0 && fds[i_in].revents) {
      char buf[4096];
      ssize_t got = ::read(in, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        in_open = false;  // the user's terminal hung up
        continue;
      }
      std::string_view rest(buf, static_cast<size_t>(got));
      while (!rest.empty()) {
        size_t used = 0;
        std::string passed;
        auto action = filter.feed(rest, passed, &used);
        typed(passed);
        rest.remove_prefix(used);
        if (action == EscapeFilter::Action::Kill) return {RelayEnd::EscapeKill, SIGINT};
        if (action == EscapeFilter::Action::Suspend) {
          // Stop ourselves the way ^Z would, with the user's settings back.
          raw.restore();
          ::kill(::getpid(), SIGTSTP);
          raw.enter();
          resized();
        }
      }
      if (filter.pending()) escape_deadline = Clock::now() + kEscapeWait;
    }
  }
}

}  // namespace mael
