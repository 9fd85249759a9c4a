#pragma once
// The one error for a test binary whose listing run failed, for every adapter: "test binary B:
// listing its tests failed: exited with code N: WHY", WHY being a Go panic's first line, else the
// last line of its stderr.
#include <filesystem>

#include "base/subprocess.h"

namespace mael {

// Throws UserError when `r` (the listing run of `binary`) did not exit 0.
void check_listing_result(const std::filesystem::path& binary, const ProcessResult& r);

}  // namespace mael
