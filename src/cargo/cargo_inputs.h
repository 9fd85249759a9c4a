#pragma once
// Whether a cargo workspace's build can be known unchanged without running cargo. `cargo test
// --no-run` takes ~40 ms to find a small workspace fresh (far more for a big one), where `cargo
// test` spends the same and then runs its tests in a few milliseconds: on a second run of an
// unchanged workspace that check is most of the run. So the last successful build is recorded
// (last_build.h) with a fingerprint of everything this machine can see cargo's answer depends
// on, taken before cargo ran:
//   - the workspace's files (names, sizes, times; not its target directory or any directory
//     cargo tagged as a build cache, nor .git but for HEAD and the branch it names), its root
//     and the current directory;
//   - the cargo command line, the whole environment (cargo, rustc, build scripts and `env!`
//     read any variable) but a few a shell changes by itself (_, OLDPWD, PWD, SHLVL) and our own;
//   - the cargo and rustc binaries, rustup's settings and every toolchain's cargo and rustc;
//   - cargo's config files and rust-toolchain files in the current directory and every
//     directory above it, and in CARGO_HOME.
// Cargo.lock pins every other dependency (registry and git sources do not change in place).
// While the fingerprint is the same, its files had not changed for two seconds when it was
// taken (file times advance in ticks), and every recorded test binary and every file cargo
// copies to the top of the build directory is as recorded, the run takes the recorded binaries
// without running cargo. Workspaces whose build reaches beyond what the fingerprint sees always
// run cargo: a path dependency (or a [patch]) outside the workspace, a build script that watches
// a file outside it (cargo:rerun-if-changed with an absolute path), or a --target build.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cargo/cargo_metadata.h"

namespace mael {

struct CargoInputs {
  std::string fingerprint;  // empty: the build depends on more than can be seen (see above)
  int64_t newest_change_ns = 0;
  int64_t scanned_ns = 0;  // when the scan began
};

// Scans the workspace (cheap: a walk of its tree and a few stats). `cargo_args`: the build's
// command line; `env`: the environment cargo runs with (environment_map()).
CargoInputs scan_cargo_inputs(const CargoWorkspace& ws, const std::filesystem::path& cwd,
                              const std::vector<std::string>& cargo_args,
                              const std::map<std::string, std::string>& env);

// The build outputs that a fresh cargo would still touch, checked with the record: the files
// directly in the build directory (binaries cargo copies there, which integration tests run).
std::string cargo_output_signature(const std::filesystem::path& build_dir);

// Whether a build script of this build (their OUT_DIRs, from cargo's messages) watches a file
// outside the workspace (cargo:rerun-if-changed=PATH with an absolute PATH; relative paths are
// inside its package: the workspace, or a dependency that does not change in place).
bool build_scripts_watch_outside(const std::vector<std::filesystem::path>& out_dirs,
                                 const std::filesystem::path& workspace_root);

// Whether Cargo.lock's packages without a source (the workspace's and path dependencies) are
// all members or path dependencies of members inside the workspace root.
bool local_packages_inside(const CargoWorkspace& ws, const std::string& cargo_lock);

}  // namespace mael
