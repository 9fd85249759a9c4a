#pragma once
// Files of src/cluster/web, compiled into the binary (see embed.cmake).
#include <optional>
#include <string_view>

namespace mael {

// The contents of web/NAME, or nullopt.
std::optional<std::string_view> web_asset(std::string_view name);

}  // namespace mael
