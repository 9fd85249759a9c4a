#pragma once
// What cargo-maelstrom needs from `cargo metadata --format-version 1 --no-deps`: the workspace's
// packages and their targets, the workspace root and the target directory.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

enum class ArtifactKind : uint8_t { Library, Binary, Test, Benchmark, Example };
// "library", "binary", "test", "benchmark", "example" (the filter language's words).
const char* artifact_kind_name(ArtifactKind k);
// Cargo's target kinds ("lib", "rlib", "bin", "test", "bench", "example", ...) -> ours.
ArtifactKind artifact_kind_from_cargo(const std::vector<std::string>& kinds);

struct CargoTarget {
  std::string name;
  ArtifactKind kind = ArtifactKind::Library;
  bool test = true;  // cargo builds a test harness for it under `cargo test`
  bool proc_macro = false;
};

struct CargoPackage {
  std::string name;
  std::string version;
  std::string id;
  std::filesystem::path manifest_path;
  std::vector<CargoTarget> targets;
};

struct CargoWorkspace {
  std::filesystem::path workspace_root;
  std::filesystem::path target_directory;
  std::vector<CargoPackage> packages;  // workspace members, in cargo's order
};

// Throws UserError naming `source` when the JSON is not cargo metadata.
CargoWorkspace parse_cargo_metadata(std::string_view json, const std::string& source = "cargo metadata");

// cargo's complaint on stderr in one line, without its "error: " prefix: where (" --> FILE:L:C"),
// what, and each "Caused by:" below it, joined with ": ". The first non-empty line when there is
// no "error:" line.
std::string cargo_error_summary(const std::string& err);

// Listing key of a target: "NAME(KIND)", as Maelstrom's test listing writes it.
std::string artifact_key(const CargoTarget& t);
// The name shown for a test case: "PACKAGE [TARGET ]CASE", the target left out when it is the
// package's own (its name with `_` as `-` equals the package name).
std::string case_display_name(const std::string& package, const std::string& target,
                              const std::string& case_name);

}  // namespace mael
