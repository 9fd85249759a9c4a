#pragma once
// Configuration values, layered as Maelstrom does (highest first):
//   1. the command-line flag                     --cache-size 2GB
//   2. the program's environment variable         CARGO_MAELSTROM_CACHE_SIZE=2GB
//   3. the generic environment variable           MAELSTROM_CACHE_SIZE=2GB
//   4. config files: -c/--config-file FILE (only that file; "-" for none), else
//      $XDG_CONFIG_HOME/<dir>/config.toml (default ~/.config) then each of $XDG_CONFIG_DIRS
//      (default /etc/xdg), earlier files winning; keys are the value names ("cache-size")
//   5. the default
// A tool declares each value once (ConfigOption) and gets the flag, both environment variables
// and the file key. Every program also has -c/--config-file, -P/--print-config and
// -L/--log-level. Bad input is a UserError naming where it came from (flag, variable, file:line).
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace mael {

// Where a program's configuration lives.
struct ProgramConfigInfo {
  std::string name;                       // "cargo-maelstrom"
  std::string config_dir;                 // below an XDG config dir: "maelstrom/cargo-maelstrom"
  std::vector<std::string> env_prefixes;  // {"CARGO_MAELSTROM", "MAELSTROM"}
};
// Maelstrom's values for a program name: env prefixes are the name in upper case with '-' as
// '_', then MAELSTROM; the directory is maelstrom/run, maelstrom/broker, maelstrom/worker,
// maelstrom/admin for those four and maelstrom/NAME otherwise.
ProgramConfigInfo program_config_info(std::string_view program);

enum class ConfigType : uint8_t {
  String,
  Int,       // min/max bounds
  Bool,      // a flag on the command line; "true"/"false" in the environment
  Size,      // bytes: 1000, "1GB", "500 MB", "2GiB", "1.5 GB"
  Duration,  // seconds as an integer, or "500ms", "30s", "5m", "2h"
  Enum,      // one of `choices` (or an alias of one)
  List,      // repeated flag (or the arguments after `--` when var_arg); whitespace-split in the
             // environment; an array of strings in a file
};

struct ConfigOption {
  std::string name;  // kebab-case key, also the flag name: "cache-size"
  ConfigType type = ConfigType::String;
  std::string help;
  std::optional<std::string> default_value;  // written as on the command line; nullopt: unset
  char short_name = 0;
  std::string value_name;                                    // shown in --help, e.g. "BYTES"
  std::vector<std::string> choices;                          // Enum
  std::vector<std::pair<std::string, std::string>> aliases;  // Enum: synonym -> choice
  int64_t min = std::numeric_limits<int64_t>::min();         // Int
  int64_t max = std::numeric_limits<int64_t>::max();         // Int; Size (bytes)
  bool var_arg = false;                                      // List: the arguments after `--`
  // List: characters that also separate items, besides whitespace in environment variables and
  // defaults (e.g. "," for comma-separated hosts); they split command-line values too.
  std::string list_separators;
  std::chrono::milliseconds min_duration{0};  // Duration
  // Shown in --help as the default when there is no default_value because the program picks
  // one later (e.g. "maelstrom/cache in cargo's target directory").
  std::string default_note;
  // String: why a value is refused (e.g. "expected HOST:PORT"), nullopt when it is fine.
  std::function<std::optional<std::string>(std::string_view)> check;
};

// A value and where it came from.
struct ConfigValue {
  ConfigType type = ConfigType::String;
  std::string text;  // String, Enum (the canonical choice)
  int64_t integer = 0;
  bool boolean = false;
  uint64_t bytes = 0;
  std::chrono::milliseconds duration{0};
  std::vector<std::string> list;
  std::string source;  // "default", "--slots", "environment variable MAELSTROM_SLOTS", "FILE:LINE"
};

class Config {
 public:
  bool has(std::string_view name) const;                       // false for an unset value without default
  const std::string& get_string(std::string_view name) const;  // String, Enum
  std::optional<std::string> get_optional_string(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  uint64_t get_size(std::string_view name) const;
  std::chrono::milliseconds get_duration(std::string_view name) const;
  const std::vector<std::string>& get_list(std::string_view name) const;
  const ConfigValue& get(std::string_view name) const;  // throws std::out_of_range if unset
  std::string log_level() const { return get_string("log-level"); }
  // Every value as TOML (a valid config file); unset values as comments.
  std::string to_toml() const;

 private:
  friend class ConfigLoader;
  std::vector<std::pair<ConfigOption, std::optional<ConfigValue>>> values_;
};

class ConfigLoader {
 public:
  // Adds -c/--config-file, -P/--print-config and the log-level value to `app`.
  ConfigLoader(ProgramConfigInfo info, CLI::App& app);
  ~ConfigLoader();
  ConfigLoader(const ConfigLoader&) = delete;
  ConfigLoader& operator=(const ConfigLoader&) = delete;

  // Declares a value and its command-line flag. Call before app.parse().
  void add(ConfigOption option);

  // After app.parse(): layers flags, `env` (the process environment: environment_map()) and the
  // config files. Throws UserError for a bad value anywhere or an unknown key in a file.
  Config load(const std::map<std::string, std::string>& env) const;

  bool print_config_requested() const;
  // The config files that load() reads, most important first (only existing ones).
  std::vector<std::string> config_files(const std::map<std::string, std::string>& env) const;

 private:
  struct Slot;
  ProgramConfigInfo info_;
  CLI::App& app_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::string config_file_;
  CLI::Option* config_file_opt_ = nullptr;
  bool print_config_ = false;
};

// The process environment as a map.
std::map<std::string, std::string> environment_map();

// Parses a byte size ("1GB", "500 MB", "2GiB", "1.5 GB", "1000"); nullopt if malformed. SI
// suffixes (k, kb, m, mb, g, gb, t, tb, p, pb) are powers of 1000, binary ones (ki, kib, mi, ...)
// of 1024; case does not matter.
std::optional<uint64_t> parse_byte_size(std::string_view text);
// Parses a duration: integer seconds, or a number with ms, s, m or h; nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace mael
