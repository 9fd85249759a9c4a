#pragma once
// Reading `cargo test --no-run --message-format=json-render-diagnostics`: which test binaries are
// ready to list and run. A package's test binaries are handed out at once, except integration
// tests (kind test), which are held until the package's binaries are built, since they may run
// them (Maelstrom's rule); at the end of the build whatever is held is handed out.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cargo/cargo_metadata.h"

namespace mael {

struct CargoOptions {
  std::optional<std::string> features;
  bool all_features = false;
  bool no_default_features = false;
  std::optional<std::string> profile;
  std::optional<std::string> target;
  std::optional<std::string> target_dir;
  std::optional<std::string> manifest_path;
  bool frozen = false;
  bool locked = false;
  bool offline = false;
};

// The cargo to run: $CARGO, which cargo sets for its subcommands (`cargo maelstrom`) to the
// cargo running them, so the toolchain's own binary runs without rustup's proxy in between
// (~10-20 ms per call); else `cargo` from PATH.
std::string cargo_program();
// `cargo metadata` arguments (feature selection and manifest options pass through).
std::vector<std::string> cargo_metadata_args(const CargoOptions& o);
// `cargo test --no-run` arguments; one `--package NAME@VERSION` per selected package, or
// `--workspace` when `packages` is empty (all of them, before the metadata is known).
std::vector<std::string> cargo_test_build_args(const CargoOptions& o,
                                               const std::vector<const CargoPackage*>& packages, bool color);

struct TestArtifact {
  const CargoPackage* package = nullptr;
  CargoTarget target;
  std::filesystem::path executable;
  bool fresh = false;  // cargo did not rebuild it this time
};

class ArtifactCollector {
 public:
  explicit ArtifactCollector(const std::vector<const CargoPackage*>& packages);
  // One line of cargo's stdout; returns the artifacts that became ready. Lines that are not
  // JSON messages are ignored. Throws UserError for a binary the package does not declare.
  std::vector<TestArtifact> feed(std::string_view line);
  // The build ended: everything still held.
  std::vector<TestArtifact> finish();
  // Whether cargo has rebuilt anything so far, a dependency or a workspace member.
  bool rebuilt() const { return rebuilt_; }

 private:
  struct Pending {
    const CargoPackage* package;
    std::set<std::string> unbuilt_binaries;
    std::vector<TestArtifact> held;
  };
  std::map<std::string, Pending> packages_;  // by package id
  bool rebuilt_ = false;
};

// Whether cargo's stderr so far says it started compiling something (its "Compiling NAME"
// lines); `text` may end anywhere.
bool cargo_started_compiling(std::string_view text);

// The build output worth keeping after the run: without cargo's progress lines (Compiling,
// Building, Blocking, Finished, Running...) and ANSI colors.
std::string filter_build_output(std::string_view text);

}  // namespace mael
