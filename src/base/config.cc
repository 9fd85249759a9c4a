#include "base/config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/input_file.h"
#include "base/input_limits.h"
#include "base/toml_bounds.h"

extern char** environ;

namespace mael {

namespace {

std::string screaming(std::string_view s) {
  std::string out;
  for (char c : s)
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\n\r");
  return std::string(s.substr(b, e - b + 1));
}

std::optional<int64_t> parse_int(std::string_view s) {
  std::string t = trim(s);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

const char* type_expectation(const ConfigOption& o) {
  switch (o.type) {
    case ConfigType::String: return "a string";
    case ConfigType::Int: return "an integer";
    case ConfigType::Bool: return "true or false";
    case ConfigType::Size: return "a size such as 1000, \"500MB\" or \"1 GB\"";
    case ConfigType::Duration: return "a duration such as 30, \"500ms\", \"30s\", \"5m\" or \"2h\"";
    case ConfigType::Enum: return "one of the listed choices";
    case ConfigType::List: return "a list of strings";
  }
  return "?";
}

// Why a size is above the option's maximum (written in binary units when it has them).
std::optional<std::string> size_above_max(const ConfigOption& o, uint64_t bytes) {
  if (o.max == std::numeric_limits<int64_t>::max() || bytes <= static_cast<uint64_t>(o.max))
    return std::nullopt;
  auto max = static_cast<uint64_t>(o.max);
  std::string shown = max % (1 << 20) == 0   ? std::to_string(max >> 20) + " MiB"
                      : max % (1 << 10) == 0 ? std::to_string(max >> 10) + " KiB"
                                             : std::to_string(max) + " bytes";
  return "must be at most " + shown;
}

// "15s", "1500ms": how durations are written back (parse_duration reads both).
std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Parses `text` (from a flag, an environment variable or a file string) for `o`; on failure
// returns an explanation.
std::optional<std::string> parse_text(const ConfigOption& o, std::string_view text, ConfigValue& out) {
  out.type = o.type;
  switch (o.type) {
    case ConfigType::String:
      if (o.check)
        if (std::optional<std::string> why = o.check(text))
          return "invalid value \"" + std::string(text) + "\": " + *why;
      out.text = std::string(text);
      return std::nullopt;
    case ConfigType::Int: {
      std::optional<int64_t> v = parse_int(text);
      std::string range = "an integer";
      if (o.min != std::numeric_limits<int64_t>::min() || o.max != std::numeric_limits<int64_t>::max())
        range = "an integer from " + std::to_string(o.min) + " to " + std::to_string(o.max);
      if (!v || *v < o.min || *v > o.max)
        return "invalid value \"" + std::string(text) + "\": expected " + range;
      out.integer = *v;
      return std::nullopt;
    }
    case ConfigType::Bool:
      if (text == "true")
        out.boolean = true;
      else if (text == "false")
        out.boolean = false;
      else
        return "invalid value \"" + std::string(text) + "\": expected true or false";
      return std::nullopt;
    case ConfigType::Size: {
      std::optional<uint64_t> v = parse_byte_size(text);
      if (!v) return "invalid value \"" + std::string(text) + "\": expected " + type_expectation(o);
      if (std::optional<std::string> why = size_above_max(o, *v))
        return "invalid value \"" + std::string(text) + "\": " + *why;
      out.bytes = *v;
      return std::nullopt;
    }
    case ConfigType::Duration: {
      std::optional<std::chrono::milliseconds> v = parse_duration(text);
      if (!v) return "invalid value \"" + std::string(text) + "\": expected " + type_expectation(o);
      if (*v < o.min_duration)
        return "invalid value \"" + std::string(text) + "\": must be at least " +
               format_duration(o.min_duration);
      out.duration = *v;
      return std::nullopt;
    }
    case ConfigType::Enum: {
      for (const auto& c : o.choices) {
        if (text == c) {
          out.text = c;
          return std::nullopt;
        }
      }
      for (const auto& [alias, c] : o.aliases) {
        if (text == alias) {
          out.text = c;
          return std::nullopt;
        }
      }
      std::string choices;
      for (const auto& c : o.choices) choices += (choices.empty() ? "" : ", ") + c;
      return "invalid value \"" + std::string(text) + "\": expected one of " + choices;
    }
    case ConfigType::List: {
      // Whitespace separated (environment variables, defaults), or by the option's separators.
      std::string spaced(text);
      for (char& c : spaced)
        if (o.list_separators.find(c) != std::string::npos) c = ' ';
      std::istringstream in{spaced};
      std::string word;
      out.list.clear();
      while (in >> word) out.list.push_back(word);
      return std::nullopt;
    }
  }
  return "unknown type";
}

// A TOML value for `o`: strings go through parse_text; numbers, booleans and arrays where the
// type allows them.
std::optional<std::string> parse_toml(const ConfigOption& o, const toml::node& n, ConfigValue& out) {
  out.type = o.type;
  if (const auto* s = n.as_string()) {
    if (o.type == ConfigType::Int || o.type == ConfigType::Bool || o.type == ConfigType::List)
      return std::string("invalid type: a string, expected ") + type_expectation(o);
    return parse_text(o, s->get(), out);
  }
  if (const auto* i = n.as_integer()) {
    int64_t v = i->get();
    switch (o.type) {
      case ConfigType::Int: return parse_text(o, std::to_string(v), out);
      case ConfigType::Size:
        if (v < 0) return "invalid value " + std::to_string(v) + ": a size cannot be negative";
        if (std::optional<std::string> why = size_above_max(o, static_cast<uint64_t>(v)))
          return "invalid value " + std::to_string(v) + ": " + *why;
        out.bytes = static_cast<uint64_t>(v);
        return std::nullopt;
      case ConfigType::Duration:
        if (v < 0) return "invalid value " + std::to_string(v) + ": a duration cannot be negative";
        if (std::chrono::seconds(v) < o.min_duration)
          return "invalid value " + std::to_string(v) + ": must be at least " +
                 format_duration(o.min_duration);
        out.duration = std::chrono::seconds(v);
        return std::nullopt;
      default: return std::string("invalid type: an integer, expected ") + type_expectation(o);
    }
  }
  if (const auto* b = n.as_boolean()) {
    if (o.type != ConfigType::Bool)
      return std::string("invalid type: a boolean, expected ") + type_expectation(o);
    out.boolean = b->get();
    return std::nullopt;
  }
  if (const auto* a = n.as_array()) {
    if (o.type != ConfigType::List)
      return std::string("invalid type: an array, expected ") + type_expectation(o);
    out.list.clear();
    for (const toml::node& e : *a) {
      const auto* s = e.as_string();
      if (s == nullptr)
        return "invalid type: an array element that is not a string, expected a list of strings";
      out.list.push_back(s->get());
    }
    return std::nullopt;
  }
  return std::string("invalid type, expected ") + type_expectation(o);
}

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string format_size(uint64_t bytes) {
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {{1000ull * 1000 * 1000 * 1000 * 1000, "PB"},
                                                                {1000ull * 1000 * 1000 * 1000, "TB"},
                                                                {1000ull * 1000 * 1000, "GB"},
                                                                {1000ull * 1000, "MB"},
                                                                {1000ull, "KB"}};
  for (const auto& [mult, unit] : kUnits)
    if (bytes >= mult && bytes % mult == 0) return toml_quote(std::to_string(bytes / mult) + " " + unit);
  return std::to_string(bytes);
}

std::string format_toml(const ConfigValue& v) {
  switch (v.type) {
    case ConfigType::String:
    case ConfigType::Enum: return toml_quote(v.text);
    case ConfigType::Int: return std::to_string(v.integer);
    case ConfigType::Bool: return v.boolean ? "true" : "false";
    case ConfigType::Size: return format_size(v.bytes);
    case ConfigType::Duration: return toml_quote(format_duration(v.duration));
    case ConfigType::List: {
      std::string out = "[";
      for (size_t i = 0; i < v.list.size(); ++i) out += (i ? ", " : "") + toml_quote(v.list[i]);
      return out + "]";
    }
  }
  return "";
}

// Command-line occurrences of a list option, each split at the option's separators.
std::vector<std::string> split_list_values(const ConfigOption& o, const std::vector<std::string>& values) {
  if (o.list_separators.empty()) return values;
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::string item;
    for (char c : v) {
      if (o.list_separators.find(c) == std::string::npos) {
        item += c;
      } else if (!item.empty()) {
        out.push_back(std::exchange(item, ""));
      }
    }
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string env_or(const std::map<std::string, std::string>& env, const std::string& key) {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

}  // namespace

// ---- free functions ---------------------------------------------------------------

ProgramConfigInfo program_config_info(std::string_view program) {
  ProgramConfigInfo info;
  info.name = std::string(program);
  info.env_prefixes = {screaming(program)};
  if (info.env_prefixes.front() != "MAELSTROM") info.env_prefixes.push_back("MAELSTROM");
  std::string dir = std::string(program);
  // Maelstrom's directories: maelstrom/run, maelstrom/go-test, maelstrom/pytest, ...
  for (std::string_view short_dir : {"run", "broker", "worker", "admin", "go-test", "pytest", "client"})
    if (program == "maelstrom-" + std::string(short_dir)) dir = short_dir;
  info.config_dir = "maelstrom/" + dir;
  return info;
}

std::optional<uint64_t> parse_byte_size(std::string_view text) {
  std::string t = trim(text);
  if (std::optional<int64_t> whole = parse_int(t)) {
    if (*whole < 0) return std::nullopt;
    return static_cast<uint64_t>(*whole);
  }
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  std::string number = t.substr(0, i);
  std::string unit = lower(trim(std::string_view(t).substr(i)));
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 || number == ".")
    return std::nullopt;
  double value = std::strtod(number.c_str(), nullptr);
  static const std::pair<const char*, double> kUnits[] = {{"b", 1},
                                                          {"k", 1e3},
                                                          {"kb", 1e3},
                                                          {"m", 1e6},
                                                          {"mb", 1e6},
                                                          {"g", 1e9},
                                                          {"gb", 1e9},
                                                          {"t", 1e12},
                                                          {"tb", 1e12},
                                                          {"p", 1e15},
                                                          {"pb", 1e15},
                                                          {"ki", 1024.0},
                                                          {"kib", 1024.0},
                                                          {"mi", 1048576.0},
                                                          {"mib", 1048576.0},
                                                          {"gi", 1073741824.0},
                                                          {"gib", 1073741824.0},
                                                          {"ti", 1099511627776.0},
                                                          {"tib", 1099511627776.0},
                                                          {"pi", 1125899906842624.0},
                                                          {"pib", 1125899906842624.0}};
  for (const auto& [name, mult] : kUnits) {
    if (unit == name) {
      double bytes = value * mult;
      if (!std::isfinite(bytes) || bytes >= 1.8e19) return std::nullopt;
      return static_cast<uint64_t>(bytes);
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::string t = trim(text);
  if (std::optional<int64_t> secs = parse_int(t)) {
    if (*secs < 0 || *secs > std::numeric_limits<int64_t>::max() / 1000) return std::nullopt;
    return std::chrono::seconds(*secs);
  }
  size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  std::optional<int64_t> n = parse_int(std::string_view(t).substr(0, i));
  std::string unit = lower(trim(std::string_view(t).substr(i)));
  if (!n) return std::nullopt;
  int64_t mult = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60'000 : unit == "h" ? 3'600'000 : 0;
  if (mult == 0 || *n > std::numeric_limits<int64_t>::max() / mult) return std::nullopt;
  return std::chrono::milliseconds(*n * mult);
}

std::map<std::string, std::string> environment_map() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

// ---- Config -----------------------------------------------------------------------

const ConfigValue& Config::get(std::string_view name) const {
  for (const auto& [opt, val] : values_) {
    if (opt.name == name) {
      if (!val) throw std::out_of_range("config value " + std::string(name) + " is not set");
      return *val;
    }
  }
  throw std::out_of_range("no config value named " + std::string(name));
}

bool Config::has(std::string_view name) const {
  for (const auto& [opt, val] : values_)
    if (opt.name == name) return val.has_value();
  return false;
}

const std::string& Config::get_string(std::string_view name) const {
  return get(name).text;
}
std::optional<std::string> Config::get_optional_string(std::string_view name) const {
  if (!has(name)) return std::nullopt;
  return get(name).text;
}
int64_t Config::get_int(std::string_view name) const {
  return get(name).integer;
}
bool Config::get_bool(std::string_view name) const {
  return get(name).boolean;
}
uint64_t Config::get_size(std::string_view name) const {
  return get(name).bytes;
}
std::chrono::milliseconds Config::get_duration(std::string_view name) const {
  return get(name).duration;
}
const std::vector<std::string>& Config::get_list(std::string_view name) const {
  return get(name).list;
}

std::string Config::to_toml() const {
  std::string out;
  for (const auto& [opt, val] : values_) {
    if (val)
      out += opt.name + " = " + format_toml(*val) + "\n";
    else if (!opt.default_note.empty())
      out += "# " + opt.name + " is not set: " + opt.default_note + "\n";
    else
      out += "# " + opt.name + " is not set\n";
  }
  return out;
}

// ---- ConfigLoader -----------------------------------------------------------------

struct ConfigLoader::Slot {
  ConfigOption option;
  CLI::Option* cli = nullptr;
  std::vector<std::string> values;  // List (one per occurrence)
  std::string value;                // other types
  bool flag = false;                // Bool
};

ConfigLoader::ConfigLoader(ProgramConfigInfo info, CLI::App& app) : info_(std::move(info)), app_(app) {
  std::string files;
  for (const std::string& f : std::vector<std::string>{"$XDG_CONFIG_HOME (default ~/.config)",
                                                       "each of $XDG_CONFIG_DIRS (default /etc/xdg)"})
    files += (files.empty() ? "" : ", then ") + f + "/" + info_.config_dir + "/config.toml";
  config_file_opt_ = app_.add_option("-c,--config-file", config_file_,
                                     "File to read configuration values from (TOML). \"-\" reads none. "
                                     "Without this option: " +
                                         files + ", earlier files winning.")
                         ->type_name("PATH");
  app_.add_flag("-P,--print-config", print_config_, "Print all configuration values and exit.");
  std::string envs;
  for (const auto& p : info_.env_prefixes) envs += (envs.empty() ? "" : " or ") + p + "_<NAME>";
  app_.footer("Configuration values come from command-line options, then the environment variables " + envs +
              " (NAME in upper case with '_' for '-'), then config files (keys as the option names), "
              "then defaults.");
  add(ConfigOption{.name = "log-level",
                   .type = ConfigType::Enum,
                   .help = "Minimum log level.",
                   .default_value = "info",
                   .short_name = 'L',
                   .value_name = "LEVEL",
                   .choices = {"error", "warning", "info", "debug"},
                   .aliases = {{"warn", "warning"}}});
}

ConfigLoader::~ConfigLoader() = default;

void ConfigLoader::add(ConfigOption option) {
  auto slot = std::make_unique<Slot>();
  slot->option = std::move(option);
  const ConfigOption& o = slot->option;
  std::string help = o.help;
  if (o.type == ConfigType::Enum) {
    std::string choices;
    for (const auto& c : o.choices) choices += (choices.empty() ? "" : "|") + c;
    help += " [choices: " + choices + "]";
  }
  std::string shown = o.default_value.value_or(o.type == ConfigType::Bool ? "false" : "none");
  if (!o.default_value && !o.default_note.empty()) shown = o.default_note;
  help += " [default: " + shown + "]";
  std::string envs;
  for (const auto& p : info_.env_prefixes) envs += (envs.empty() ? "" : ", ") + p + "_" + screaming(o.name);
  help += " [env: " + envs + "]";
  std::string flag = (o.short_name ? std::string("-") + o.short_name + "," : std::string()) + "--" + o.name;
  if (o.type == ConfigType::Bool) {
    slot->cli = app_.add_flag(flag, slot->flag, help);
  } else if (o.type == ConfigType::List) {
    slot->cli = app_.add_option(o.var_arg ? o.name : flag, slot->values, help)->expected(1)->take_all();
    if (o.var_arg) slot->cli->expected(0, -1);  // positional: everything after `--`
  } else {
    slot->cli =
        app_.add_option(flag, slot->value, help)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  if (!o.value_name.empty())
    slot->cli->type_name(o.value_name);
  else if (o.type == ConfigType::Duration)
    slot->cli->type_name("DURATION");
  else if (o.type == ConfigType::Size)
    slot->cli->type_name("BYTES");
  else if (o.type == ConfigType::Int)
    slot->cli->type_name("N");
  slots_.push_back(std::move(slot));
}

bool ConfigLoader::print_config_requested() const {
  return print_config_;
}

std::vector<std::string> ConfigLoader::config_files(const std::map<std::string, std::string>& env) const {
  if (config_file_opt_->count() > 0) {
    if (config_file_ == "-") return {};
    return {config_file_};
  }
  // XDG base directories: relative entries are ignored, as the specification says.
  std::vector<std::string> dirs;
  std::string home = env_or(env, "XDG_CONFIG_HOME");
  if (home.empty() || home[0] != '/') {
    std::string h = env_or(env, "HOME");
    home = h.empty() ? "" : h + "/.config";
  }
  if (!home.empty()) dirs.push_back(home);
  std::string sys = env_or(env, "XDG_CONFIG_DIRS");
  if (sys.empty()) sys = "/etc/xdg";
  std::istringstream in(sys);
  for (std::string d; std::getline(in, d, ':');)
    if (!d.empty() && d[0] == '/') dirs.push_back(d);
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    std::string f = d + "/" + info_.config_dir + "/config.toml";
    std::error_code ec;
    if (std::filesystem::is_regular_file(f, ec)) out.push_back(f);
  }
  return out;
}

Config ConfigLoader::load(const std::map<std::string, std::string>& env) const {
  // Read and check the files first: an unknown key is an error even when a flag overrides it.
  std::vector<std::pair<std::string, toml::table>> files;
  for (const std::string& path : config_files(env)) {
    std::string text = read_input_file(path, "config file", "give a TOML file", limits::kMaxTomlBytes);
    check_toml_bounds(text, path);
    toml::table table;
    try {
      table = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      throw UserError(path + ":" + std::to_string(e.source().begin.line) + ": " +
                      std::string(e.description()));
    }
    for (const auto& entry : table) {
      const toml::key& key = entry.first;  // a structured binding cannot be captured before clang 16
      bool known = std::any_of(slots_.begin(), slots_.end(),
                               [&](const auto& s) { return s->option.name == key.str(); });
      if (!known) {
        std::string names;
        for (const auto& s : slots_) names += (names.empty() ? "" : ", ") + s->option.name;
        throw UserError(path + ":" + std::to_string(key.source().begin.line) + ": unknown config key `" +
                        std::string(key.str()) + "` (known keys: " + names + ")");
      }
    }
    files.emplace_back(path, std::move(table));
  }

  Config config;
  for (const auto& slot : slots_) {
    const ConfigOption& o = slot->option;
    std::optional<ConfigValue> value;
    // 1. command line
    if (slot->cli->count() > 0) {
      ConfigValue v;
      v.type = o.type;
      v.source = o.var_arg ? "command-line arguments after --" : "--" + o.name;
      std::optional<std::string> err;
      if (o.type == ConfigType::Bool)
        v.boolean = slot->flag;
      else if (o.type == ConfigType::List)
        v.list = split_list_values(o, slot->values);
      else
        err = parse_text(o, slot->value, v);
      // A command line the tool cannot take: a usage error (exit 2), as CLI11's own refusals.
      if (err) throw UsageError("command-line option --" + o.name + ": " + *err);
      value = std::move(v);
    }
    // 2./3. environment variables
    for (size_t i = 0; !value && i < info_.env_prefixes.size(); ++i) {
      std::string var = info_.env_prefixes[i] + "_" + screaming(o.name);
      auto it = env.find(var);
      if (it == env.end()) continue;
      ConfigValue v;
      v.source = "environment variable " + var;
      if (std::optional<std::string> err = parse_text(o, it->second, v))
        throw UserError("environment variable " + var + ": " + *err);
      value = std::move(v);
    }
    // 4. files, most important first
    for (size_t i = 0; !value && i < files.size(); ++i) {
      const toml::node* n = files[i].second.get(o.name);
      if (n == nullptr) continue;
      ConfigValue v;
      v.source = files[i].first + ":" + std::to_string(n->source().begin.line);
      if (std::optional<std::string> err = parse_toml(o, *n, v))
        throw UserError(v.source + ": key `" + o.name + "`: " + *err);
      value = std::move(v);
    }
    // 5. default
    if (!value && o.default_value) {
      ConfigValue v;
      v.source = "default";
      if (std::optional<std::string> err = parse_text(o, *o.default_value, v))
        throw std::logic_error("bad default for config value " + o.name + ": " + *err);
      value = std::move(v);
    } else if (!value && (o.type == ConfigType::Bool || o.type == ConfigType::List)) {
      value = ConfigValue{.type = o.type, .source = "default"};  // false / empty
    }
    config.values_.emplace_back(o, std::move(value));
  }
  return config;
}

}  // namespace mael
