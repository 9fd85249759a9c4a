#pragma once
// Test cases of a Rust test binary, and its output as cargo-maelstrom shows it.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runner/case_list_cache.h"

namespace mael {

// Names from `BIN --list --format terse` output ("NAME: test" lines; benchmarks are skipped).
std::vector<std::string> parse_terse_list(std::string_view output);
// Runs the binary (on this machine, as Maelstrom does) twice at the same time, with `--list
// --format terse` and with `--list --format terse --ignored`. Throws UserError when either fails:
// "test binary B: listing its tests failed: ...".
ListedCases list_test_binary(const std::filesystem::path& binary, const std::filesystem::path& cwd);
// Drops the harness's lines around a single test's own output: up to and including "running 1
// test", and from the last "test NAME ... " line on (the result line, failures list, "test
// result:").
std::vector<std::string> trim_harness_output(const std::string& case_name, std::vector<std::string> lines);

}  // namespace mael
