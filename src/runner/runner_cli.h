#pragma once
// The options every test runner shares (Maelstrom's test-runner config values and test
// selection flags), declared once: ui, quiet, repeat (-r, alias --loop), stop-after (-s),
// timeout (-t) as config values, and -i/--include, -x/--exclude, --init, -w/--watch,
// --junit and --partition as command-line flags.
#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/config.h"
#include "runner/run_ui.h"

namespace mael {

struct RunnerFlags {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool init = false;
  bool watch = false;
  std::string junit;  // empty: none
  std::string partition;  // empty: the whole suite (runner/partition.h)
};

void add_runner_config(ConfigLoader& loader);
// Command-line spellings Maelstrom accepts besides the config value's own flag: `--loop` for
// `--repeat`. Rewrites them (up to a `--`) so that the parser sees only the canonical names.
std::vector<std::string> rewrite_runner_flag_aliases(std::vector<std::string> args);
void add_runner_flags(CLI::App& app, RunnerFlags& flags);

struct RunnerSettings {
  UiKind ui = UiKind::Auto;
  size_t repeat = 1;
  std::optional<size_t> stop_after;
  // Outer: given or not; inner nullopt: `--timeout 0`, no timeout.
  std::optional<std::optional<std::chrono::milliseconds>> timeout;
  std::optional<std::chrono::milliseconds> slow_timeout = std::chrono::seconds(60);  // nullopt: never
  size_t retries = 0;
  bool flaky_fails = false;  // --flaky-result fail
  bool no_cache = false;     // --no-cache: cached results are not used (passes are still recorded)
};
RunnerSettings runner_settings_from(const Config& config);

}  // namespace mael
