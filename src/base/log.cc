// The one translation unit that compiles spdlog (header-only here, with fmt, so no program loads
// their shared libraries; see cmake/static_deps.cmake).
#define SPDLOG_HEADER_ONLY  // Debian's spdlog/tweakme.h already selects the external fmt
#define FMT_HEADER_ONLY
#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

#include "base/error.h"

namespace mael {

namespace {

spdlog::level::level_enum spdlog_level(log::Level level) {
  switch (level) {
    case log::Level::Trace: return spdlog::level::trace;
    case log::Level::Debug: return spdlog::level::debug;
    case log::Level::Info: return spdlog::level::info;
    case log::Level::Warn: return spdlog::level::warn;
    case log::Level::Error: return spdlog::level::err;
  }
  return spdlog::level::err;
}

}  // namespace

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("maelstrom");
  logger->set_pattern("%^%l%$: %v");
  if (level == "error")
    logger->set_level(spdlog::level::err);
  else if (level == "warn" || level == "warning")
    logger->set_level(spdlog::level::warn);
  else if (level == "info")
    logger->set_level(spdlog::level::info);
  else if (level == "debug")
    logger->set_level(spdlog::level::debug);
  else if (level == "trace")
    logger->set_level(spdlog::level::trace);
  else
    throw UserError("unknown log level '" + std::string(level) + "': use error, warn, info or debug");
  spdlog::set_default_logger(logger);
}

namespace log {

bool enabled(Level level) {
  return spdlog::default_logger_raw()->should_log(spdlog_level(level));
}

void write(Level level, std::string_view message) {
  spdlog::default_logger_raw()->log(spdlog_level(level),
                                    spdlog::string_view_t(message.data(), message.size()));
}

void write_unformatted(Level level, std::string_view format_string, const char* why) noexcept {
  try {
    write(level, std::string(format_string) + " [format error: " + why + "]");
  } catch (...) {
    // Out of memory: the message is lost.
  }
}

}  // namespace log
}  // namespace mael
