#pragma once
// The Python program of a warm batch (see warm_script.cc and warm_batches.h).
#include <string_view>

namespace mael {

// Each record the program writes on its stdout starts with this (a line of its own).
inline constexpr std::string_view kWarmRecordPrefix = "\x1emaelstrom-pytest ";

std::string_view pytest_warm_script();

}  // namespace mael
