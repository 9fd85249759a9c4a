#pragma once
// Building a Go module's test binaries: one `go test -c -o DIR/ PKG...` for all the selected
// packages (one per group of packages whose binaries would share a name), not one `go` per
// package. Each `go` command loads and hashes the whole build graph before it can tell that
// a binary is up to date (about a quarter of a second of CPU per package on golang.org/x/text),
// so one command for 48 packages checks them in 0.7 s where 48 commands took 8.6 s.
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gotest/go_packages.h"
#include "runner/driver.h"

namespace mael {

struct GoBuildOptions {
  std::filesystem::path module_root;   // where `go` runs
  std::filesystem::path binaries_dir;  // the binaries as tests see them (go_test_binary_path)
  std::filesystem::path staging_dir;   // go's output directories, one per group, kept between runs
  std::optional<std::string> vet;      // --vet=VALUE, unless unset
};

// The filter fields of a package's tests (all but the test's name).
FilterFields go_package_fields(const GoPackage& p);

// The selected packages that have tests, those whose tests ran longest last time first (their
// tests then start early instead of keeping one slot busy at the end while the other idles).
std::vector<size_t> go_build_order(const std::vector<GoPackage>& packages, const std::vector<size_t>& selected,
                                   const BuildSink& sink);

// Builds the test binaries of the selected packages that have tests, reporting each to the sink
// as soon as go wrote it (or, unchanged, once go has checked it). `built`, when given, receives
// each reported package's import path and binary.
BuildResult build_go_test_binaries(const std::vector<GoPackage>& packages, const std::vector<size_t>& selected,
                                   const GoBuildOptions& options, BuildSink& sink,
                                   std::map<std::string, std::filesystem::path>* built = nullptr);

// The driver's handle on package `index`'s test binary at `executable`.
TestBinary go_test_binary(const GoPackage& p, size_t index, const std::filesystem::path& executable);

// For every package, the group its binary is built in: the first whose binaries do not already
// have its binary's name, packages taken in order (so a package keeps its group from run to
// run, and go's check of its binary finds last run's). Packages without tests: SIZE_MAX.
std::vector<size_t> go_binary_groups(const std::vector<GoPackage>& packages);

// The packages of `import_paths` that go's error output names in its "# ..." header lines
// (build errors: "# p [p.test]", "# p_test [p.test]"; vet: "# p", "# [p]"), in the order named.
std::vector<std::string> failed_go_packages(std::string_view go_stderr, const std::set<std::string>& import_paths);

}  // namespace mael
