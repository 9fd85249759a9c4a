#pragma once
// Pseudo-terminals for jobs run with a terminal (maelstrom-run --tty): the
// pair itself, the user's terminal in raw mode, the escape character, and the
// loop that relays bytes between the user's terminal and the job's.
#include <termios.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace mael {

struct WindowSize {
  uint16_t rows = 0;
  uint16_t columns = 0;
  bool operator==(const WindowSize&) const = default;
};

// The size of the terminal behind fd, if it is one.
std::optional<WindowSize> window_size(int fd);
// Sets it; the kernel sends SIGWINCH to the terminal's foreground group.
void set_window_size(int fd, WindowSize size);

// A new pseudo-terminal pair, both ends close-on-exec.
struct Pty {
  UniqueFd master;
  UniqueFd slave;
};
Pty open_pty(std::optional<WindowSize> size);

// Puts a terminal in raw mode (no echo, no line editing, no signal keys, no
// output processing) and restores the saved settings when destroyed.
class RawTerminal {
 public:
  explicit RawTerminal(int fd);  // throws if fd is not a terminal
  ~RawTerminal() { restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  void restore();  // back to the saved settings (idempotent)
  void enter();    // raw again (after restore(), e.g. when continued)

 private:
  int fd_;
  termios saved_{};
  bool raw_ = false;
};

// Parses the escape-char setting: one character, caret notation ("^]"), or a
// backslash escape ("\n", "\x1d"); ASCII only. Throws UserError naming `source`.
char parse_escape_char(std::string_view text, std::string_view source);
// The same without the throw: nullopt when `text` names no such character.
std::optional<char> escape_char_from(std::string_view text);
inline constexpr const char* kBadEscapeChar =
    "not an ASCII escape character; use one character, caret notation (^]) or a byte escape (\\x1d)";

// The escape character's state machine over what the user types: ESC ^C asks
// to kill, ESC ^Z to suspend, ESC ESC sends one ESC; ESC and anything else
// both go to the job.
class EscapeFilter {
 public:
  enum class Action { None, Kill, Suspend };
  explicit EscapeFilter(char escape) : escape_(escape) {}
  // Appends what goes to the job to `out`, stopping after an action; returns
  // it and sets *used to the bytes of `in` consumed.
  Action feed(std::string_view in, std::string& out, size_t* used);
  bool pending() const { return pending_; }
  // No character came after the escape in time: it goes to the job.
  void flush(std::string& out);

 private:
  char escape_;
  bool pending_ = false;
};

// How relay_terminal ended.
struct RelayEnd {
  enum Kind { JobDone, Signal, EscapeKill } kind = JobDone;
  int signal = 0;  // Signal
};

// Relays until the job is done (`done` readable: eventfd) and the master is
// drained, a signal other than SIGWINCH arrives on `signal_fd` (a signalfd),
// or the user types the escape sequence to kill. Window size changes of `in`
// go to the master; the escape sequence to suspend stops this process (with
// the terminal restored meanwhile). `framed`: `master` is a tty job's socket
// instead (tty_stream.h): typed bytes and window sizes go framed.
RelayEnd relay_terminal(int in, int out, int master, int done, int signal_fd, char escape, RawTerminal& raw,
                        bool framed = false);

}  // namespace mael
