#pragma once
// Logging to stderr through spdlog, a line per message: "LEVEL: message" (the level colored on
// a terminal), at or above the configured level (error, warn, info, debug). Messages are
// formatted as by mael::format, only when their level is on. Callers see only this header:
// spdlog is compiled into log.cc alone.
#include <exception>
#include <functional>
#include <string_view>

#include "base/format.h"

namespace mael {

// Throws UserError for an unknown level name.
void init_logging(std::string_view level);

namespace log {

enum class Level : int { Trace, Debug, Info, Warn, Error };

bool enabled(Level level);
void write(Level level, std::string_view message);

// A message whose format fails at run time (a spec that does not fit its argument) is logged
// as its format string and the reason: logging never throws.
void write_unformatted(Level level, std::string_view format_string, const char* why) noexcept;

// Hands every message logged from now on (at the configured level) to `tap` as well, which must
// not log itself; an empty function removes it. For a process that forwards its log records.
void set_tap(std::function<void(Level, std::string_view)> tap);

template <typename... Args>
void at(Level level, FormatString<std::type_identity_t<Args>...> f, const Args&... args) noexcept {
  if (!enabled(level)) return;
  try {
    write(level, mael::format<Args...>(f, args...));
  } catch (const std::exception& e) {
    write_unformatted(level, f.text, e.what());
  }
}
template <typename... Args>
void debug(FormatString<std::type_identity_t<Args>...> f, const Args&... args) noexcept {
  at<Args...>(Level::Debug, f, args...);
}
template <typename... Args>
void info(FormatString<std::type_identity_t<Args>...> f, const Args&... args) noexcept {
  at<Args...>(Level::Info, f, args...);
}
template <typename... Args>
void warn(FormatString<std::type_identity_t<Args>...> f, const Args&... args) noexcept {
  at<Args...>(Level::Warn, f, args...);
}
template <typename... Args>
void error(FormatString<std::type_identity_t<Args>...> f, const Args&... args) noexcept {
  at<Args...>(Level::Error, f, args...);
}

}  // namespace log
}  // namespace mael
