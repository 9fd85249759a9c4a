#pragma once
// A cache of `cargo metadata`'s answer. The command takes ~40 ms and, run beside the build,
// holds the build up about as long, on every run; its answer (--no-deps) only changes when a
// manifest, a cargo config file, a directory cargo discovers targets in, or the environment
// changes. An entry is kept per (working directory, arguments, cargo-related environment) with
// the state of every file and directory the answer depends on, and answers while none of
// them changed. Entries whose files changed less than two seconds before the entry was
// written are not trusted (a file can change twice within one timestamp tick).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/file_signature.h"
#include "cargo/cargo_metadata.h"

namespace mael {

class MetadataCache {
 public:
  // dir: where entries are kept. env: "NAME=value" strings; those of cargo and rustup
  // (CARGO*, RUSTUP*, RUSTC*, PATH) are part of the key.
  // racy_ns: how long before an entry is written its files must have last changed for it
  // to be trusted.
  MetadataCache(std::filesystem::path dir, const std::filesystem::path& cwd,
                const std::vector<std::string>& args, const std::vector<std::string>& env,
                int64_t racy_ns = kRacyFileChangeNs);

  // The raw `cargo metadata` output when an entry exists and nothing it depends on changed.
  std::optional<std::string> lookup() const;
  // Records `json` (cargo's output, parsed as `ws`). Errors are ignored: the cache is an
  // optimization only.
  void store(const std::string& json, const CargoWorkspace& ws) const;

  // How many entries the directory keeps; the oldest go first.
  static constexpr size_t kMaxEntries = 64;

 private:
  std::filesystem::path dir_;
  std::filesystem::path cwd_;
  std::string cargo_home_;
  std::string key_;
  std::filesystem::path entry_;
  int64_t racy_ns_;
};

// The files and directories the metadata of `ws` depends on, found from `cwd`.
std::vector<std::filesystem::path> metadata_inputs(const CargoWorkspace& ws, const std::filesystem::path& cwd,
                                                   const std::filesystem::path& cargo_home);

}  // namespace mael
