#pragma once
// Whether a Go module's build can be known unchanged without running go. `go list` and
// `go test -c` each load and hash the build graph (about 0.1-0.2 s each on a small module): on
// a second run of an unchanged module that is most of the run, where `go test ./...` with its
// own cache runs one go command. So the last successful check is recorded with a fingerprint of
// everything this machine can see the build depends on: the module's files (names, sizes,
// times) and its absolute path, the settings go decides a build by (`go env -json`: a few
// milliseconds, where `go list` loads every package), the environment go reads, the go binary,
// its GOROOT and cgo's compilers, go's env file and the vet setting. While the fingerprint is
// the same, and its files had not changed for two seconds when it was taken (file times advance
// in ticks), the record's package list and test binaries are used without running go list or
// go test -c. Modules whose build reaches beyond what the fingerprint sees always run go: a
// go.work workspace, a `replace` to a local directory, GOFLAGS naming files (-overlay,
// -modfile, -pgo) or a -toolexec program. (Like go, it does not look at C headers and libraries
// outside the module.)
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gotest/go_packages.h"

namespace mael {

struct GoInputs {
  std::string fingerprint;  // empty: the build depends on more than can be seen (see above)
  int64_t newest_change_ns = 0;
  int64_t scanned_ns = 0;  // when the scan began
};

// Scans the module (cheap: `go env`, a walk of its tree and a few stats). `env`: the environment
// go runs with (environment_map()).
GoInputs scan_go_inputs(const std::filesystem::path& module_root, const std::map<std::string, std::string>& env,
                        const std::string& vet);

struct GoLastCheck {
  std::string go_list;                          // go list -json ./...'s output
  std::map<std::string, std::string> binaries;  // import path -> its test binary's file_signature
};

// The record, when its fingerprint is `inputs`' and old enough to trust; nullopt otherwise (also
// for a missing or damaged file).
std::optional<GoLastCheck> load_go_last_check(const std::filesystem::path& file, const GoInputs& inputs,
                                              int64_t racy_ns);
// Records a check go made of these inputs; `binaries`: import path -> test binary (its signature
// is taken now). Does nothing when the inputs cannot be fingerprinted; errors are ignored.
void save_go_last_check(const std::filesystem::path& file, const GoInputs& inputs, const std::string& go_list,
                        const std::map<std::string, std::filesystem::path>& binaries);

// Whether the go.mod text replaces a module with a directory (`=> ../x`, `=> ./x`, `=> /x`).
bool go_mod_replaces_with_directory(const std::string& go_mod);

}  // namespace mael
