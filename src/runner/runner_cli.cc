#include "runner/runner_cli.h"

#include <filesystem>

#include "base/error.h"

namespace mael {

void add_runner_config(ConfigLoader& loader) {
  loader.add({.name = "ui",
              .type = ConfigType::Enum,
              .help = "UI style: simple (a line per test), fancy (live view on a terminal), quiet, or auto",
              .default_value = "auto",
              .value_name = "UI-STYLE",
              .choices = {"auto", "simple", "fancy", "quiet"}});
  loader.add({.name = "quiet",
              .type = ConfigType::Bool,
              .help = "print only the summary (same as --ui quiet)",
              .default_value = "false"});
  loader.add({.name = "repeat",
              .type = ConfigType::Int,
              .help = "how many times to run each test (alias: --loop)",
              .default_value = "1",
              .short_name = 'r',
              .value_name = "COUNT",
              .min = 1});
  loader.add({.name = "stop-after",
              .type = ConfigType::Int,
              .help = "stop after this many test failures",
              .short_name = 's',
              .value_name = "NUM-FAILURES",
              .min = 1});
  loader.add({.name = "retries",
              .type = ConfigType::Int,
              .help = "run a failed test again up to this many times; one that then passes is FLAKY "
                      "(a directive's retries wins)",
              .default_value = "0",
              .value_name = "N",
              .min = 0});
  loader.add({.name = "flaky-result",
              .type = ConfigType::Enum,
              .help = "what a flaky test makes of the exit code: pass (0 if nothing else failed) or fail",
              .default_value = "pass",
              .value_name = "RESULT",
              .choices = {"pass", "fail"}});
  loader.add({.name = "no-cache",
              .type = ConfigType::Bool,
              .help = "run every test, even one whose job is that of its last pass (otherwise reported "
                      "CACHED without running)",
              .default_value = "false"});
  loader.add({.name = "slow-timeout",
              .type = ConfigType::Duration,
              .help = "report a test still running after this long as SLOW, and again each time as long "
                      "again passes (0: never); a directive's slow_timeout wins",
              .default_value = "60",
              .value_name = "SECONDS"});
  loader.add({.name = "timeout",
              .type = ConfigType::Duration,
              .help = "timeout for every test, overriding the spec file: seconds, or a duration such as "
                      "\"500ms\" or \"2m\" (0: none)",
              .short_name = 't',
              .value_name = "SECONDS"});
}

std::vector<std::string> rewrite_runner_flag_aliases(std::vector<std::string> args) {
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a == "--") break;
    if (a == "--loop")
      a = "--repeat";
    else if (a.rfind("--loop=", 0) == 0)
      a = "--repeat=" + a.substr(7);
  }
  return args;
}

void add_runner_flags(CLI::App& app, RunnerFlags& f) {
  app.add_option("-i,--include", f.include, "only include tests matching this filter (repeatable)")
      ->type_name("FILTER-EXPRESSION")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-x,--exclude", f.exclude,
                 "exclude tests matching this filter (repeatable; wins over --include)")
      ->type_name("FILTER-EXPRESSION")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--partition", f.partition,
                 "run one share of the tests: count:M/N (round-robin over each test binary's tests sorted "
                 "by name) or hash:M/N (by a stable hash of the test's name)")
      ->type_name("KIND:M/N");
  app.add_flag("--init", f.init, "write a starter spec file if there is none, then exit");
  app.add_flag("-w,--watch", f.watch, "loop: run the tests, then wait for changes to the project");
  // Checked before anything is built or run: the report is written only at the end.
  app.add_option("--junit", f.junit, "also write a JUnit XML report to PATH")
      ->type_name("PATH")
      ->check(
          [](const std::string& p) -> std::string {
            namespace fs = std::filesystem;
            if (p.empty()) return "an empty path: give the report's file name";
            std::error_code ec;
            if (fs::is_directory(p, ec)) return p + " is a directory: give a file name";
            fs::path parent = fs::path(p).parent_path();
            if (!parent.empty() && !fs::is_directory(parent, ec))
              return "the directory " + parent.string() + " does not exist: create it first";
            return "";
          },
          "");  // no validator name: --help shows the option as PATH, not PATH:PATH
}

RunnerSettings runner_settings_from(const Config& config) {
  RunnerSettings s;
  s.ui = ui_kind_from_name(config.get_string("ui")).value_or(UiKind::Auto);
  if (config.get_bool("quiet")) {
    // Maelstrom's manual: the fancy UI "is incompatible with quiet".
    if (s.ui == UiKind::Fancy)
      throw UserError(
          "--ui fancy and --quiet cannot be used together: drop one (--ui quiet is the quiet UI)");
    s.ui = UiKind::Quiet;
  }
  s.repeat = static_cast<size_t>(config.get_int("repeat"));
  if (config.has("stop-after")) s.stop_after = static_cast<size_t>(config.get_int("stop-after"));
  s.retries = static_cast<size_t>(config.get_int("retries"));
  s.flaky_fails = config.get_string("flaky-result") == "fail";
  s.no_cache = config.get_bool("no-cache");
  // Durations where 0 means none.
  auto nonzero = [&](const char* key) -> std::optional<std::chrono::milliseconds> {
    auto d = config.get_duration(key);
    if (d.count() == 0) return std::nullopt;
    return d;
  };
  s.slow_timeout = nonzero("slow-timeout");
  if (config.has("timeout")) s.timeout = nonzero("timeout");
  return s;
}

}  // namespace mael
