#pragma once
// The project's version, from CMake's project(VERSION): the one place it is written.
#include <string>
#include <string_view>

namespace mael {

std::string_view version();
// What `PROGRAM --version` prints: "PROGRAM VERSION".
std::string version_line(std::string_view program);

}  // namespace mael
