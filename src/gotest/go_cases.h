#pragma once
// Test cases of a Go test binary and reading a case's output, as maelstrom-go-test does it.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runner/case_list_cache.h"

namespace mael {

// Names from `BIN -test.list=.` output: the top-level tests, fuzz targets and examples (those
// with an output comment; go lists no others). Lines that are not a Go identifier (whatever a
// TestMain prints) and benchmarks (`go test` runs none unless asked with -bench) are skipped.
std::vector<std::string> parse_go_test_list(std::string_view output);
// Runs the binary on this machine in `cwd` with -test.list. Throws UserError when it fails.
ListedCases list_go_test_binary(const std::filesystem::path& binary, const std::filesystem::path& cwd);

struct GoTestFlags {
  bool short_mode = false;  // -test.short
  bool fullpath = false;    // -test.fullpath
  std::vector<std::string> extra;  // extra-test-binary-args
};
// The arguments for one top-level case: the case anchored (its subtests run inside it, as under
// `go test`), verbose output (the skip check reads it), no timeout of go's own (the job's
// timeout applies), os.Exit(0) from a test is a failure (as `go test` passes it), then -short,
// -fullpath and the extra arguments.
std::vector<std::string> go_test_arguments(const std::string& case_name, const GoTestFlags& flags);

// Whether a passing case skipped itself: its verbose output ends with its own
// "--- SKIP: NAME (...)" line followed by "PASS" (a test with only skipped subtests passed).
bool go_test_skipped(const std::string& case_name, std::string_view stdout_text);
// Drops the harness's lines around a failed case's own output: for tests, up to its
// "=== RUN   NAME" line and from its last "--- FAIL: NAME " line on; for examples, up to
// "--- FAIL: NAME " (the got/want block stays) and from the last "FAIL" on; for fuzz targets,
// from the last "FAIL" on.
std::vector<std::string> trim_go_test_output(const std::string& case_name, std::vector<std::string> lines);

}  // namespace mael
