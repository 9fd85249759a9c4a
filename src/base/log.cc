#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "base/error.h"

namespace mael {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("maelstrom");
  logger->set_pattern("%^%l%$: %v");
  if (level == "error") logger->set_level(spdlog::level::err);
  else if (level == "warn" || level == "warning") logger->set_level(spdlog::level::warn);
  else if (level == "info") logger->set_level(spdlog::level::info);
  else if (level == "debug") logger->set_level(spdlog::level::debug);
  else if (level == "trace") logger->set_level(spdlog::level::trace);
  else throw UserError("unknown log level '" + std::string(level) + "': use error, warn, info or debug");
  spdlog::set_default_logger(logger);
}

}  // namespace mael
