#pragma once
// The Python program maelstrom-pytest collects tests with (see collect_script.cc).
#include <string_view>

namespace mael {

std::string_view pytest_collect_script();
std::string_view python_probe_script();

}  // namespace mael
