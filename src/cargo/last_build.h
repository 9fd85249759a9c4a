#pragma once
// The test binaries the last successful build handed out, per cargo command line. The next run
// starts their tests at once, while cargo is still checking whether anything needs rebuilding
// (tens of milliseconds for a small workspace, far more for a big one), and keeps those results
// only if cargo then reports each binary fresh and its file is unchanged (early_start.h).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/file_signature.h"

namespace mael {

struct BuiltTestBinary {
  std::string package;  // package name
  std::string target;   // artifact_key(): "NAME(KIND)"
  std::filesystem::path executable;
  std::string signature;  // file_signature() when the record was made, at the end of the run
};

// The binaries recorded for this cargo command line (its --color=... aside) whose files are
// still as recorded and were already so `racy_ns` before the record was made (file times
// advance in ticks); none for a missing or damaged file.
std::vector<BuiltTestBinary> load_last_build(const std::filesystem::path& file,
                                             const std::vector<std::string>& cargo_args,
                                             int64_t racy_ns = kRacyFileChangeNs);
// Records the binaries with their current signatures (those missing now are left out). Errors
// are ignored: the record only saves time.
void save_last_build(const std::filesystem::path& file, const std::vector<std::string>& cargo_args,
                     std::vector<BuiltTestBinary> binaries);

}  // namespace mael
