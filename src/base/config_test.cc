#include "base/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/test_temp_dir.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using TempDir = testing::ScratchDir;

// A program with one value of each type, parsed from `args`.
struct Harness {
  CLI::App app{"test"};
  ConfigLoader loader{program_config_info("maelstrom-run"), app};
  Harness() {
    loader.add({.name = "slots",
                .type = ConfigType::Int,
                .help = "Job slots.",
                .default_value = "4",
                .min = 1,
                .max = 1000});
    loader.add(
        {.name = "cache-size", .type = ConfigType::Size, .help = "Cache size.", .default_value = "1GB"});
    loader.add({.name = "broker",
                .type = ConfigType::String,
                .help = "Broker.",
                .short_name = 'b',
                .check = [](std::string_view v) -> std::optional<std::string> {
                  if (v.find(':') == std::string_view::npos) return "expected HOST:PORT";
                  return std::nullopt;
                }});
    loader.add({.name = "inline-limit",
                .type = ConfigType::Size,
                .help = "Inline.",
                .default_value = "1 MB",
                .max = 6 << 20});
    loader.add({.name = "interval",
                .type = ConfigType::Duration,
                .help = "Interval.",
                .default_value = "15s",
                .min_duration = std::chrono::seconds(2)});
    loader.add({.name = "accept-invalid-certs", .type = ConfigType::Bool, .help = "Accept."});
    loader.add({.name = "timeout", .type = ConfigType::Duration, .help = "Timeout.", .default_value = "0"});
    loader.add({.name = "ui",
                .type = ConfigType::Enum,
                .help = "UI.",
                .default_value = "auto",
                .choices = {"auto", "simple", "fancy", "quiet"}});
    loader.add({.name = "features", .type = ConfigType::List, .help = "Features."});
    loader.add({.name = "extra-args", .type = ConfigType::List, .help = "Extra.", .var_arg = true});
  }
  Config load(std::vector<std::string> args, const std::map<std::string, std::string>& env) {
    if (!args.empty()) args.erase(args.begin());  // like argv: args[0] is the program
    std::reverse(args.begin(), args.end());       // CLI11 takes them last first
    app.parse(args);
    return loader.load(env);
  }
};

std::string load_error(std::vector<std::string> args, const std::map<std::string, std::string>& env) {
  Harness h;
  try {
    h.load(std::move(args), env);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ProgramConfigInfo, FollowsMaelstromNames) {
  ProgramConfigInfo run = program_config_info("maelstrom-run");
  EXPECT_EQ(run.config_dir, "maelstrom/run");
  EXPECT_THAT(run.env_prefixes, ElementsAre("MAELSTROM_RUN", "MAELSTROM"));
  ProgramConfigInfo cargo = program_config_info("cargo-maelstrom");
  EXPECT_EQ(cargo.config_dir, "maelstrom/cargo-maelstrom");
  EXPECT_THAT(cargo.env_prefixes, ElementsAre("CARGO_MAELSTROM", "MAELSTROM"));
  EXPECT_EQ(program_config_info("maelstrom-go-test").config_dir, "maelstrom/go-test");
  EXPECT_EQ(program_config_info("maelstrom-pytest").config_dir, "maelstrom/pytest");
  EXPECT_EQ(program_config_info("maelstrom-broker").config_dir, "maelstrom/broker");
  EXPECT_THAT(program_config_info("maelstrom-worker").env_prefixes,
              ElementsAre("MAELSTROM_WORKER", "MAELSTROM"));
}

TEST(Config, DefaultsWhenNothingIsGiven) {
  TempDir home;
  Harness h;
  Config c = h.load({}, {{"HOME", home.str()}, {"XDG_CONFIG_DIRS", home.str() + "/none"}});
  EXPECT_EQ(c.get_int("slots"), 4);
  EXPECT_EQ(c.get_size("cache-size"), 1000000000u);
  EXPECT_FALSE(c.has("broker"));
  EXPECT_EQ(c.get_optional_string("broker"), std::nullopt);
  EXPECT_FALSE(c.get_bool("accept-invalid-certs"));
  EXPECT_EQ(c.get_duration("timeout").count(), 0);
  EXPECT_EQ(c.get_string("ui"), "auto");
  EXPECT_TRUE(c.get_list("features").empty());
  EXPECT_EQ(c.log_level(), "info");
  EXPECT_EQ(c.get("slots").source, "default");
  EXPECT_THROW(c.get("broker"), std::out_of_range);
  EXPECT_THROW(c.get("no-such-value"), std::out_of_range);
}

TEST(Config, LayersFlagOverProgramEnvOverGenericEnvOverFileOverDefault) {
  TempDir home;
  home.write(
      ".config/maelstrom/run/config.toml",
      "slots = 5\ncache-size = \"2 GB\"\nbroker = \"file:1\"\nui = \"simple\"\nfeatures = [\"a\", \"b\"]\n");
  std::map<std::string, std::string> env{{"HOME", home.str()},
                                         {"XDG_CONFIG_DIRS", home.str() + "/none"},
                                         {"MAELSTROM_SLOTS", "6"},
                                         {"MAELSTROM_CACHE_SIZE", "3GB"},
                                         {"MAELSTROM_RUN_CACHE_SIZE", "500 MB"},
                                         {"MAELSTROM_BROKER", "generic:1"},
                                         {"MAELSTROM_RUN_BROKER", "specific:1"}};
  Harness h;
  Config c = h.load({"prog", "--broker", "flag:1"}, env);
  EXPECT_EQ(c.get_string("broker"), "flag:1");
  EXPECT_EQ(c.get("broker").source, "--broker");
  EXPECT_EQ(c.get_size("cache-size"), 500000000u);
  EXPECT_EQ(c.get("cache-size").source, "environment variable MAELSTROM_RUN_CACHE_SIZE");
  EXPECT_EQ(c.get_int("slots"), 6);
  EXPECT_EQ(c.get("slots").source, "environment variable MAELSTROM_SLOTS");
  EXPECT_EQ(c.get_string("ui"), "simple");
  EXPECT_EQ(c.get("ui").source, home.str() + "/.config/maelstrom/run/config.toml:4");
  EXPECT_THAT(c.get_list("features"), ElementsAre("a", "b"));
  EXPECT_EQ(c.get_string("log-level"), "info");
}

TEST(Config, FlagsOfEveryType) {
  TempDir home;
  Harness h;
  Config c =
      h.load({"prog", "-b", "x:1", "--slots=7", "--cache-size", "2GiB", "--accept-invalid-certs", "--timeout",
              "90s", "--ui", "fancy", "--features", "f1", "--features=f2", "-L", "warn", "--", "a1", "a2"},
             {{"HOME", home.str()}});
  EXPECT_EQ(c.get_string("broker"), "x:1");
  EXPECT_EQ(c.get_int("slots"), 7);
  EXPECT_EQ(c.get_size("cache-size"), 2ull << 30);
  EXPECT_TRUE(c.get_bool("accept-invalid-certs"));
  EXPECT_EQ(c.get_duration("timeout"), std::chrono::seconds(90));
  EXPECT_EQ(c.get_string("ui"), "fancy");
  EXPECT_THAT(c.get_list("features"), ElementsAre("f1", "f2"));
  EXPECT_THAT(c.get_list("extra-args"), ElementsAre("a1", "a2"));
  EXPECT_EQ(c.log_level(), "warning");
}

TEST(Config, EnvironmentTypes) {
  TempDir home;
  Harness h;
  Config c = h.load({}, {{"HOME", home.str()},
                         {"MAELSTROM_ACCEPT_INVALID_CERTS", "true"},
                         {"MAELSTROM_FEATURES", "  x   y z "},
                         {"MAELSTROM_RUN_EXTRA_ARGS", ""},
                         {"MAELSTROM_TIMEOUT", "1500ms"},
                         {"MAELSTROM_RUN_LOG_LEVEL", "debug"}});
  EXPECT_TRUE(c.get_bool("accept-invalid-certs"));
  EXPECT_THAT(c.get_list("features"), ElementsAre("x", "y", "z"));
  EXPECT_TRUE(c.get_list("extra-args").empty());
  EXPECT_EQ(c.get_duration("timeout").count(), 1500);
  EXPECT_EQ(c.log_level(), "debug");
  Harness h2;
  EXPECT_FALSE(h2.load({}, {{"HOME", home.str()}, {"MAELSTROM_ACCEPT_INVALID_CERTS", "false"}})
                   .get_bool("accept-invalid-certs"));
}

TEST(Config, ListSeparatorsSplitEnvironmentAndCommandLineValues) {
  TempDir home;
  for (const char* env_value : {"a:1,b", "a:1, b", " a:1 ,b, ", "a:1 b"}) {
    Harness h;
    h.loader.add({.name = "hosts", .type = ConfigType::List, .help = "Hosts.", .list_separators = ","});
    Config c = h.load({}, {{"HOME", home.str()}, {"MAELSTROM_HOSTS", env_value}});
    EXPECT_THAT(c.get_list("hosts"), ElementsAre("a:1", "b")) << env_value;
    // -P shows the items, not the raw split.
    EXPECT_NE(c.to_toml().find("hosts = [\"a:1\", \"b\"]"), std::string::npos) << c.to_toml();
  }
  Harness h;
  h.loader.add({.name = "hosts", .type = ConfigType::List, .help = "Hosts.", .list_separators = ","});
  Config c = h.load({"prog", "--hosts", "a,b", "--hosts", "c"}, {{"HOME", home.str()}});
  EXPECT_THAT(c.get_list("hosts"), ElementsAre("a", "b", "c"));
  // Options without separators keep commas.
  Harness plain;
  EXPECT_THAT(plain.load({}, {{"HOME", home.str()}, {"MAELSTROM_FEATURES", "a,b c"}}).get_list("features"),
              ElementsAre("a,b", "c"));
}

TEST(Config, XdgSearchOrderAndExplicitFile) {
  TempDir t;
  t.write("home/maelstrom/run/config.toml", "slots = 10\n");
  t.write("sys1/maelstrom/run/config.toml", "slots = 20\nbroker = \"sys1:1\"\n");
  t.write("sys2/maelstrom/run/config.toml", "broker = \"sys2:1\"\nui = \"quiet\"\n");
  std::string explicit_file = t.write("other.toml", "slots = 30\n");
  std::map<std::string, std::string> env{
      {"XDG_CONFIG_HOME", t.str() + "/home"},
      {"XDG_CONFIG_DIRS", t.str() + "/sys1:relative/dir:" + t.str() + "/sys2"}};
  {
    Harness h;
    Config c = h.load({}, env);
    EXPECT_EQ(c.get_int("slots"), 10);
    EXPECT_EQ(c.get_string("broker"), "sys1:1");
    EXPECT_EQ(c.get_string("ui"), "quiet");
    EXPECT_THAT(h.loader.config_files(env), ElementsAre(t.str() + "/home/maelstrom/run/config.toml",
                                                        t.str() + "/sys1/maelstrom/run/config.toml",
                                                        t.str() + "/sys2/maelstrom/run/config.toml"));
  }
  {
    Harness h;
    Config c = h.load({"prog", "-c", explicit_file}, env);
    EXPECT_EQ(c.get_int("slots"), 30);
    EXPECT_FALSE(c.has("broker"));
  }
  {
    Harness h;
    Config c = h.load({"prog", "--config-file", "-"}, env);
    EXPECT_EQ(c.get_int("slots"), 4);
  }
  {
    // An empty XDG_CONFIG_HOME falls back to ~/.config.
    t.write("h2/.config/maelstrom/run/config.toml", "slots = 11\n");
    Harness h;
    Config c =
        h.load({}, {{"XDG_CONFIG_HOME", ""}, {"HOME", t.str() + "/h2"}, {"XDG_CONFIG_DIRS", t.str() + "/x"}});
    EXPECT_EQ(c.get_int("slots"), 11);
  }
}

TEST(Config, BadValuesNameTheirSource) {
  TempDir t;
  std::map<std::string, std::string> env{{"HOME", t.str()}};
  EXPECT_EQ(load_error({"p", "--slots", "abc"}, env),
            "command-line option --slots: invalid value \"abc\": expected an integer from 1 to 1000");
  EXPECT_EQ(load_error({"p", "--slots", "0"}, env),
            "command-line option --slots: invalid value \"0\": expected an integer from 1 to 1000");
  EXPECT_EQ(load_error({"p", "--ui", "pretty"}, env),
            "command-line option --ui: invalid value \"pretty\": expected one of auto, simple, fancy, quiet");
  EXPECT_EQ(
      load_error({"p", "--cache-size", "12 XB"}, env),
      "command-line option --cache-size: invalid value \"12 XB\": expected a size such as 1000, \"500MB\" or "
      "\"1 GB\"");
  EXPECT_EQ(
      load_error({"p", "--timeout", "soon"}, env),
      "command-line option --timeout: invalid value \"soon\": expected a duration such as 30, \"500ms\", "
      "\"30s\", \"5m\" or \"2h\"");
  EXPECT_EQ(
      load_error({}, {{"HOME", t.str()}, {"MAELSTROM_RUN_SLOTS", "many"}}),
      "environment variable MAELSTROM_RUN_SLOTS: invalid value \"many\": expected an integer from 1 to 1000");
  EXPECT_EQ(
      load_error({}, {{"HOME", t.str()}, {"MAELSTROM_ACCEPT_INVALID_CERTS", "yes"}}),
      "environment variable MAELSTROM_ACCEPT_INVALID_CERTS: invalid value \"yes\": expected true or false");
  EXPECT_EQ(load_error({}, {{"HOME", t.str()}, {"MAELSTROM_LOG_LEVEL", "loud"}}),
            "environment variable MAELSTROM_LOG_LEVEL: invalid value \"loud\": expected one of error, "
            "warning, info, "
            "debug");

  std::string f = t.write("c.toml", "# comment\nslots = \"8\"\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":2: key `slots`: invalid type: a string, expected an integer");
  f = t.write("c.toml", "slots = 5000\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":1: key `slots`: invalid value \"5000\": expected an integer from 1 to 1000");
  f = t.write("c.toml", "features = [\"a\", 1]\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env), f + ":1: key `features`: invalid type: an array element that is "
                                                 "not a string, expected a list of strings");
  f = t.write("c.toml", "accept-invalid-certs = 1\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":1: key `accept-invalid-certs`: invalid type: an integer, expected true or false");
  f = t.write("c.toml", "cache-size = -1\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":1: key `cache-size`: invalid value -1: a size cannot be negative");
  f = t.write("c.toml", "broker = true\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":1: key `broker`: invalid type: a boolean, expected a string");
  // An option's own check and a duration's minimum, from every source.
  EXPECT_EQ(load_error({"p", "--broker", "nowhere"}, env),
            "command-line option --broker: invalid value \"nowhere\": expected HOST:PORT");
  EXPECT_EQ(load_error({}, {{"HOME", t.str()}, {"MAELSTROM_BROKER", "x"}}),
            "environment variable MAELSTROM_BROKER: invalid value \"x\": expected HOST:PORT");
  f = t.write("c.toml", "broker = \"y\"\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env), f + ":1: key `broker`: invalid value \"y\": expected HOST:PORT");
  EXPECT_EQ(load_error({"p", "--interval", "1500ms"}, env),
            "command-line option --interval: invalid value \"1500ms\": must be at least 2s");
  EXPECT_EQ(load_error({"p", "--inline-limit", "7MiB"}, env),
            "command-line option --inline-limit: invalid value \"7MiB\": must be at most 6 MiB");
  f = t.write("c.toml", "inline-limit = 6291457\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":1: key `inline-limit`: invalid value 6291457: must be at most 6 MiB");
  f = t.write("c.toml", "interval = 1\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env), f + ":1: key `interval`: invalid value 1: must be at least 2s");
  f = t.write("c.toml", "ui = [\"a\"]\n");
  EXPECT_EQ(load_error({"p", "-c", f}, env),
            f + ":1: key `ui`: invalid type: an array, expected one of the listed choices");
}

TEST(Config, UnknownKeysAndBrokenFilesAreRejected) {
  TempDir t;
  std::map<std::string, std::string> env{{"HOME", t.str()}};
  std::string f = t.write("c.toml", "slots = 2\nslot = 3\n");
  EXPECT_THAT(load_error({"p", "-c", f}, env),
              HasSubstr(f + ":2: unknown config key `slot` (known keys: log-level, slots,"));
  f = t.write("c.toml", "slots = \n");
  EXPECT_THAT(load_error({"p", "-c", f}, env), HasSubstr(f + ":1: "));
  EXPECT_EQ(load_error({"p", "-c", t.str() + "/missing.toml"}, env),
            "cannot read config file " + t.str() + "/missing.toml: No such file or directory");
  EXPECT_EQ(load_error({"p", "-c", t.str()}, env),
            "cannot read config file " + t.str() + ": it is a directory; give a TOML file");
  // Unknown keys are errors even when the value comes from a flag.
  f = t.write("home/.config/maelstrom/run/config.toml", "bogus = 1\n");
  EXPECT_THAT(load_error({"p", "--slots", "3"}, {{"HOME", t.str() + "/home"}}),
              HasSubstr("unknown config key `bogus`"));
}

TEST(Config, PrintConfigIsLoadableToml) {
  TempDir t;
  Harness h;
  Config c = h.load({"p", "-P", "--cache-size", "1500", "--features", "a\"b", "--timeout", "250ms"},
                    {{"HOME", t.str()}});
  EXPECT_TRUE(h.loader.print_config_requested());
  std::string toml = c.to_toml();
  EXPECT_THAT(toml, HasSubstr("log-level = \"info\"\n"));
  EXPECT_THAT(toml, HasSubstr("slots = 4\n"));
  EXPECT_THAT(toml, HasSubstr("cache-size = 1500\n"));
  EXPECT_THAT(toml, HasSubstr("# broker is not set\n"));
  EXPECT_THAT(toml, HasSubstr("features = [\"a\\\"b\"]\n"));
  EXPECT_THAT(toml, HasSubstr("timeout = \"250ms\"\n"));
  // Feeding it back gives the same values.
  std::string f = t.write("printed.toml", toml);
  Harness h2;
  Config c2 = h2.load({"p", "-c", f}, {{"HOME", t.str()}});
  EXPECT_EQ(c2.to_toml(), toml);
  Harness h3;
  EXPECT_THAT(h3.load({}, {{"HOME", t.str()}}).to_toml(), HasSubstr("cache-size = \"1 GB\"\n"));
  EXPECT_FALSE(h3.loader.print_config_requested());
}

TEST(ByteSize, ParsesSiAndBinarySuffixes) {
  EXPECT_EQ(parse_byte_size("1000"), 1000u);
  EXPECT_EQ(parse_byte_size("1GB"), 1000000000u);
  EXPECT_EQ(parse_byte_size("1 gb"), 1000000000u);
  EXPECT_EQ(parse_byte_size("500 MB"), 500000000u);
  EXPECT_EQ(parse_byte_size("1.5 GB"), 1500000000u);
  EXPECT_EQ(parse_byte_size("2KiB"), 2048u);
  EXPECT_EQ(parse_byte_size("1 MiB"), 1048576u);
  EXPECT_EQ(parse_byte_size("3k"), 3000u);
  EXPECT_EQ(parse_byte_size("7 B"), 7u);
  EXPECT_EQ(parse_byte_size(""), std::nullopt);
  EXPECT_EQ(parse_byte_size("GB"), std::nullopt);
  EXPECT_EQ(parse_byte_size("1.2.3GB"), std::nullopt);
  EXPECT_EQ(parse_byte_size("-5"), std::nullopt);
  EXPECT_EQ(parse_byte_size("5 parsecs"), std::nullopt);
}

TEST(Duration, ParsesSecondsAndUnits) {
  EXPECT_EQ(parse_duration("30"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("5m"), std::chrono::minutes(5));
  EXPECT_EQ(parse_duration("2 h"), std::chrono::hours(2));
  EXPECT_EQ(parse_duration("-1"), std::nullopt);
  EXPECT_EQ(parse_duration("5 days"), std::nullopt);
  EXPECT_EQ(parse_duration("s"), std::nullopt);
}

TEST(EnvironmentMap, ReadsTheProcessEnvironment) {
  ::setenv("MAEL_CONFIG_TEST_VAR", "a=b", 1);
  EXPECT_EQ(environment_map().at("MAEL_CONFIG_TEST_VAR"), "a=b");
  ::unsetenv("MAEL_CONFIG_TEST_VAR");
  EXPECT_EQ(environment_map().count("MAEL_CONFIG_TEST_VAR"), 0u);
}

}  // namespace
}  // namespace mael
