// The one translation unit that compiles spdlog (header-only here, with fmt, so no program loads
// their shared libraries; see cmake/static_deps.cmake).
#define SPDLOG_HEADER_ONLY  // Debian's spdlog/tweakme.h already selects the external fmt
#define FMT_HEADER_ONLY
#include "base/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
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

log::Level our_level(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return log::Level::Trace;
    case spdlog::level::debug: return log::Level::Debug;
    case spdlog::level::info: return log::Level::Info;
    case spdlog::level::warn: return log::Level::Warn;
    default: return log::Level::Error;
  }
}

// The sink behind log::set_tap. Threads call the tap side by side; a message that the tap itself
// logs (even indirectly, e.g. through gRPC's log) is not handed to it again, rather than waiting
// on a lock this thread already holds.
class TapSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  using Tap = std::function<void(log::Level, std::string_view)>;
  void set(Tap tap) {
    std::lock_guard lk(mu_);
    tap_ = tap ? std::make_shared<const Tap>(std::move(tap)) : nullptr;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    thread_local bool inside = false;
    if (inside) return;
    std::shared_ptr<const Tap> tap;
    {
      std::lock_guard lk(mu_);
      tap = tap_;
    }
    if (!tap) return;
    struct Inside {
      Inside() { inside = true; }
      ~Inside() { inside = false; }
    } in;
    (*tap)(our_level(msg.level), std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  std::mutex mu_;
  std::shared_ptr<const Tap> tap_;
};

const std::shared_ptr<TapSink>& tap_sink() {
  static auto* sink = new std::shared_ptr<TapSink>(std::make_shared<TapSink>());  // never destroyed
  return *sink;
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
  logger->sinks().push_back(tap_sink());
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

void set_tap(std::function<void(Level, std::string_view)> tap) {
  tap_sink()->set(std::move(tap));
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
