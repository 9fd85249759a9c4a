#pragma once
// Logging: spdlog to stderr at the configured level (error, warn, info, debug).
#include <spdlog/spdlog.h>

#include <string_view>

namespace mael {

void init_logging(std::string_view level);

}  // namespace mael
