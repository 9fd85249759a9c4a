#pragma once
// The Go module under test: its root (the nearest directory above the current one with a go.mod)
// and its packages, as `go list -json ./...` reports them (nested modules are not part of
// `./...`, so their packages never appear).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

struct GoPackage {
  std::string import_path;    // "example.com/m/pkg/a"
  std::filesystem::path dir;  // absolute
  std::string name;           // the package clause's name
  std::string path;           // dir relative to the module root; "" for the root package
  bool has_tests = false;     // it has _test.go files (in-package or external)
};

// The nearest directory at or above `from` that holds a go.mod. Throws UserError.
std::filesystem::path find_go_module_root(const std::filesystem::path& from);

// Parses the stream of JSON objects `go list -json` prints. Throws UserError naming `source`.
std::vector<GoPackage> parse_go_list(std::string_view json_stream, const std::filesystem::path& module_root,
                                     const std::string& source = "go list -json");

// Runs `go list -json ./...` in the module root and returns its output (for parse_go_list).
// Throws UserError with go's complaint.
std::string run_go_list(const std::filesystem::path& module_root);

// The name of the package's test binary: <short>.test, <short> being the last element of the
// import path that is not a major version suffix (`b/v2` -> `b`), as Maelstrom names it.
std::string go_test_binary_name(const GoPackage& p);
// The name go itself gives the package's test binary in `go test -c -o DIR/`: the last element
// of the import path, skipping a major version suffix by go's rule (v2 and up, so `api/v1`
// gives `v1.test` where go_test_binary_name gives `api.test`).
std::string go_built_binary_name(const GoPackage& p);
// Where the package's test binary goes: DIR/<path>/go_test_binary_name(p).
std::filesystem::path go_test_binary_path(const std::filesystem::path& binaries_dir, const GoPackage& p);

}  // namespace mael
