#include "runner/directives.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "base/test_errors.h"
#include "base/test_temp_dir.h"
#include "runner/adapters.h"

namespace mael {
namespace {

FilterFields cargo_test(std::string package, std::string name, std::string kind = "library") {
  FilterFields f;
  f.strings = {{"package", package}, {"kind", kind}, {"artifact", package}, {"name", name}};
  return f;
}

TestSpecFile parse(std::string_view text, const TemplateVars& vars = {}) {
  return TestSpecFile::parse(text, "cargo-maelstrom.toml", cargo_filter_language(), vars);
}

std::string error_of(std::string_view text, const TemplateVars& vars = {}) {
  try {
    parse(text, vars);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

std::string tar_path(const LayerSpec& l) {
  return std::get<TarLayer>(l).path;
}

using TempDir = testing::ScratchDir;

TEST(Directives, DefaultCargoFile) {
  TestSpecFile f = TestSpecFile::parse(cargo_adapter().default_spec, "default", cargo_filter_language());
  TestMetadata m = f.metadata_for(cargo_test("foo", "t"));
  ASSERT_EQ(m.container.layers.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StubsLayer>(m.container.layers[0]));
  ASSERT_EQ(m.container.mounts.size(), 4u);
  EXPECT_EQ(m.container.mounts[0].type, MountType::Tmp);
  EXPECT_EQ(m.container.mounts[0].mount_point, "/tmp");
  EXPECT_EQ(m.container.mounts[3].type, MountType::Devices);
  EXPECT_EQ(m.container.mounts[3].devices.size(), 5u);
  ASSERT_EQ(m.container.environment.size(), 1u);
  EXPECT_TRUE(m.container.environment[0].extend);
  EXPECT_EQ(m.container.environment[0].vars.at("RUST_BACKTRACE"), "$env{RUST_BACKTRACE:-0}");
  EXPECT_TRUE(m.include_shared_libraries);
  EXPECT_FALSE(m.timeout.has_value());
  EXPECT_FALSE(m.ignore);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(m.container.parent));
}

TEST(Directives, DefaultGoAndPytestFiles) {
  TestSpecFile go = TestSpecFile::parse(go_adapter().default_spec, "default", go_filter_language());
  FilterFields gt;
  gt.strings = {
      {"package_import_path", "x/y"}, {"package_path", "y"}, {"package_name", "y"}, {"name", "TestA"}};
  TestMetadata gm = go.metadata_for(gt);
  EXPECT_EQ(gm.container.mounts.size(), 4u);
  EXPECT_TRUE(gm.container.environment.empty());
  EXPECT_TRUE(gm.include_shared_libraries);

  TestSpecFile py = TestSpecFile::parse(pytest_adapter().default_spec, "default", pytest_filter_language());
  TestMetadata pm = py.metadata_for(FilterFields{});
  const auto* image = std::get_if<ImageRef>(&pm.container.parent);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->name, "docker://python:3.12.3-slim");
  EXPECT_EQ(pm.container.layers.size(), 3u);  // the added layers
  EXPECT_EQ(pm.container.mounts.size(), 4u);
  EXPECT_FALSE(pm.include_shared_libraries);  // the image provides the libraries
}

TEST(Directives, AugmentEditsInOrder) {
  TestSpecFile f = parse(R"T(
[[directives]]
layers = [{ tar = "a.tar" }]
mounts = [{ type = "tmp", mount_point = "/tmp" }]
user = 1
[[directives]]
filter = "package.equals(foo)"
added_layers = [{ tar = "b.tar" }]
added_mounts = [{ type = "proc", mount_point = "/proc" }]
working_directory = "/w"
[[directives]]
filter = "name.equals(replace)"
layers = [{ tar = "c.tar" }]
added_layers = [{ tar = "d.tar" }]
environment = { A = "1" }
added_environment = { B = "2" }
network = "loopback"
enable_writable_file_system = true
group = 7
)T");
  TestMetadata other = f.metadata_for(cargo_test("bar", "t"));
  ASSERT_EQ(other.container.layers.size(), 1u);
  EXPECT_EQ(tar_path(other.container.layers[0]), "a.tar");
  EXPECT_EQ(other.container.user, 1u);
  EXPECT_FALSE(other.container.working_directory);

  TestMetadata foo = f.metadata_for(cargo_test("foo", "t"));
  ASSERT_EQ(foo.container.layers.size(), 2u);
  EXPECT_EQ(tar_path(foo.container.layers[1]), "b.tar");
  EXPECT_EQ(foo.container.mounts.size(), 2u);
  EXPECT_EQ(foo.container.working_directory, "/w");

  TestMetadata rep = f.metadata_for(cargo_test("foo", "replace"));
  ASSERT_EQ(rep.container.layers.size(), 2u);
  EXPECT_EQ(tar_path(rep.container.layers[0]), "c.tar");
  EXPECT_EQ(tar_path(rep.container.layers[1]), "d.tar");
  ASSERT_EQ(rep.container.environment.size(), 2u);
  EXPECT_EQ(rep.container.environment[0].vars.at("A"), "1");
  EXPECT_EQ(rep.container.environment[1].vars.at("B"), "2");
  EXPECT_EQ(rep.container.network, Network::Loopback);
  EXPECT_EQ(rep.container.enable_writable_file_system, true);
  EXPECT_EQ(rep.container.group, 7u);
  EXPECT_EQ(rep.container.user, 1u);
}

TEST(Directives, ImageOrParentReplacesContainerButKeepsTimeoutAndIgnore) {
  TestSpecFile f = parse(R"T(
[[directives]]
user = 42
added_layers = [{ stubs = ["/tmp/"] }]
timeout = 10
ignore = true
include_shared_libraries = true
[[directives]]
filter = "package.eq(img)"
image = "docker://rust"
)T");
  TestMetadata plain = f.metadata_for(cargo_test("x", "t"));
  EXPECT_EQ(plain.container.user, 42u);
  EXPECT_EQ(plain.timeout, std::chrono::milliseconds(10000));
  TestMetadata img = f.metadata_for(cargo_test("img", "t"));
  EXPECT_FALSE(img.container.user);
  EXPECT_TRUE(img.container.layers.empty());
  ASSERT_TRUE(std::holds_alternative<ImageRef>(img.container.parent));
  EXPECT_EQ(img.timeout, std::chrono::milliseconds(10000));
  EXPECT_TRUE(img.ignore);
  EXPECT_TRUE(img.include_shared_libraries);  // set explicitly, so the image does not matter
}

TEST(Directives, LimitsOfTheLastMatchingDirectiveThatGivesEach) {
  TestSpecFile f = parse(R"T(
[[directives]]
max_processes = 100
max_memory = "1 GiB"

[[directives]]
filter = "package.equals(big)"
max_memory = "4 GiB"
max_tmpfs_size = 65536
)T");
  JobLimits small = f.metadata_for(cargo_test("small", "t")).limits;
  EXPECT_EQ(small, (JobLimits{100, uint64_t{1} << 30, std::nullopt}));
  JobLimits big = f.metadata_for(cargo_test("big", "t")).limits;
  EXPECT_EQ(big, (JobLimits{100, uint64_t{4} << 30, 65536}));
  EXPECT_NE(error_of("[[directives]]\nmax_processes = -1\n").find("field `max_processes`: invalid value"),
            std::string::npos);
}

TEST(Directives, TimeoutZeroMeansNone) {
  TestSpecFile f = parse(R"T(
[[directives]]
timeout = 5
[[directives]]
filter = "name.equals(slow)"
timeout = 0
)T");
  EXPECT_EQ(f.metadata_for(cargo_test("p", "fast")).timeout, std::chrono::milliseconds(5000));
  EXPECT_FALSE(f.metadata_for(cargo_test("p", "slow")).timeout.has_value());
  EXPECT_NE(error_of("[[directives]]\ntimeout = -1\n").find("line 2"), std::string::npos);
}

TEST(Directives, SlowTimeoutIsKeptPerTestAndZeroMeansNever) {
  TestSpecFile f = parse(R"T(
[[directives]]
slow_timeout = 5
[[directives]]
filter = "name.equals(long)"
slow_timeout = 0
)T");
  EXPECT_EQ(f.metadata_for(cargo_test("p", "fast")).slow_timeout,
            std::optional<std::optional<std::chrono::milliseconds>>(std::chrono::milliseconds(5000)));
  auto never = f.metadata_for(cargo_test("p", "long")).slow_timeout;
  ASSERT_TRUE(never.has_value());
  EXPECT_FALSE(never->has_value());
  EXPECT_FALSE(parse("[[directives]]\n").metadata_for(cargo_test("p", "x")).slow_timeout.has_value());
  EXPECT_NE(error_of("[[directives]]\nslow_timeout = \"soon\"\n").find("slow_timeout"), std::string::npos);
}

TEST(Directives, CacheFalseKeepsATestFromBeingCachedAndMustBeABoolean) {
  TestSpecFile f = parse(R"T(
[[directives]]
filter = "name.equals(net)"
cache = false
[[directives]]
filter = "name.equals(net)"
image = "busybox"
)T");
  EXPECT_FALSE(f.metadata_for(cargo_test("p", "net")).cache);  // kept across container replacement
  EXPECT_TRUE(f.metadata_for(cargo_test("p", "other")).cache);
  std::string e = error_of("[[directives]]\ncache = \"no\"\n");
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("cache"), std::string::npos) << e;
}

TEST(Directives, IncludeSharedLibrariesFollowsTheParentChain) {
  TestSpecFile f = parse(R"T(
[containers.base]
image = { name = "docker://debian", use = ["environment"] }
[containers.withlayers]
image = "docker://debian"
[containers.child]
parent = "withlayers"
[[directives]]
filter = "package.eq(a)"
parent = "base"
[[directives]]
filter = "package.eq(b)"
parent = "child"
[[directives]]
filter = "package.eq(c)"
parent = { name = "child", use = ["environment"] }
)T");
  EXPECT_TRUE(f.metadata_for(cargo_test("a", "t")).include_shared_libraries);
  EXPECT_FALSE(f.metadata_for(cargo_test("b", "t")).include_shared_libraries);
  EXPECT_TRUE(f.metadata_for(cargo_test("c", "t")).include_shared_libraries);
  EXPECT_EQ(f.containers().size(), 3u);
}

TEST(Directives, ParentLoopsAndMissingParentsAreErrors) {
  TestSpecFile loop = parse(R"T(
[containers.a]
parent = "b"
[containers.b]
parent = "a"
[[directives]]
parent = "a"
)T");
  try {
    loop.metadata_for(cargo_test("p", "t"));
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "cargo-maelstrom.toml: containers form a loop: a -> b -> a");
  }
  // A parent that is not defined: found when the file is read (so --list finds it too).
  EXPECT_EQ(error_of("[[directives]]\nparent = \"nope\"\n"),
            "cargo-maelstrom.toml: line 2 column 10: parent container `nope` is not defined; define it as "
            "[containers.nope] in this file");
  EXPECT_EQ(error_of("[containers.a]\nparent = { name = \"gone\", use = [\"layers\"] }\n")
                .rfind("cargo-maelstrom.toml: line 2 column ", 0),
            0u);
}

TEST(Directives, UnknownKeysNameFileLineAndKey) {
  std::string e = error_of("[[directives]]\nfilter = \"all\"\nfrob = 1\n");
  EXPECT_EQ(e.rfind("cargo-maelstrom.toml: line 3 column 1: unknown field `frob`", 0), 0u) << e;
  e = error_of("[[directive]]\n");
  EXPECT_EQ(e.rfind("cargo-maelstrom.toml: line 1", 0), 0u) << e;
  EXPECT_NE(e.find("unknown field `directive`"), std::string::npos) << e;
  e = error_of("[containers.x]\nlayer = []\n");
  EXPECT_NE(e.find("line 2 column 1: unknown field `layer`"), std::string::npos) << e;
}

TEST(Directives, BadFilterNamesLineAndColumn) {
  std::string e = error_of("[[directives]]\nfilter = \"package.eq(x) &&\"\n");
  EXPECT_EQ(e.rfind("cargo-maelstrom.toml: line 2", 0), 0u) << e;
  EXPECT_NE(e.find("invalid filter 'package.eq(x) &&': at column 17"), std::string::npos) << e;
}

TEST(Directives, InputBoundsGiveOneLineErrors) {
  // A dotted key of a million parts used to overflow the stack inside the TOML parser.
  std::string key;
  for (int i = 0; i < 1'000'000; ++i) key += "a.";
  EXPECT_EQ(error_of("[[directives]]\nfilter = \"all\"\n" + key + "b = 1\n"),
            "cargo-maelstrom.toml: line 3: tables and arrays nested more than 128 levels deep (the limit; "
            "each part of a dotted key is a level)");
  // So did a filter of a million parentheses.
  std::string e = error_of("[[directives]]\nfilter = \"" + std::string(1'000'000, '(') + "\"\n");
  EXPECT_EQ(e.rfind("cargo-maelstrom.toml: line 2", 0), 0u) << e.substr(0, 300);
  EXPECT_NE(e.find("at column 129: parentheses and negations nested more than 128 levels deep"),
            std::string::npos)
      << e.substr(0, 300);
  // A file that never ends is read up to the bound only.
  EXPECT_EQ(testing::user_error_of([] { TestSpecFile::load("/dev/zero", "", cargo_filter_language()); }),
            "cannot read test spec file /dev/zero: longer than 64 MiB (the limit)");
}

TEST(Directives, ReplacingDirectiveFollowsContainerRules) {
  // added_layers next to a parent whose use leaves layers out.
  std::string e = error_of(R"T([[directives]]
parent = { name = "x", use = ["environment"] }
added_layers = [{ tar = "a.tar" }]
)T");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("added_layers"), std::string::npos) << e;
  EXPECT_NE(error_of("[[directives]]\nimage = \"docker://a\"\nparent = \"b\"\n").find("both"),
            std::string::npos);
  // Without image/parent, added_X is always fine.
  EXPECT_EQ(error_of("[[directives]]\nadded_layers = [{ tar = \"a.tar\" }]\n"), "no error");
}

TEST(Directives, BuildDirTemplate) {
  TemplateVars vars{{"build-dir", "/proj/target/debug"}};
  TestSpecFile f = parse(R"T(
[containers.c]
layers = [{ paths = ["<build-dir>/foo"] }]
[[directives]]
layers = [{ tar = "<build-dir>/x.tar" }]
added_layers = [{ tar = "<<build-dir>/y.tar" }]
)T",
                         vars);
  TestMetadata m = f.metadata_for(cargo_test("p", "t"));
  EXPECT_EQ(tar_path(m.container.layers[0]), "/proj/target/debug/x.tar");
  EXPECT_EQ(tar_path(m.container.layers[1]), "<build-dir>/y.tar");
  EXPECT_EQ(std::get<PathsLayer>(f.containers().at("c").layers[0]).paths[0], "/proj/target/debug/foo");
  std::string e = error_of("[[directives]]\nlayers = [{ tar = \"<nope>/x\" }]\n", vars);
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown template variable `nope`"), std::string::npos) << e;
}

TEST(TemplateVars, Replace) {
  TemplateVars v{{"build-dir", "B"}, {"x", "X"}};
  EXPECT_EQ(replace_template_vars("<build-dir>/a", v), "B/a");
  EXPECT_EQ(replace_template_vars("/h/<x>/<x>", v), "/h/X/X");
  EXPECT_EQ(replace_template_vars("<<x>", v), "<x>");
  EXPECT_EQ(replace_template_vars("<<<x>", v), "<X");
  EXPECT_EQ(replace_template_vars("<<<<x>", v), "<<x>");
  EXPECT_EQ(replace_template_vars("a < b > c <1x> <x", v), "a < b > c <1x> <x");
  EXPECT_THROW(replace_template_vars("<y>", v), UserError);
}

TEST(Directives, LoadMissingFileUsesDefaultAndInitRefusesOverwrite) {
  TempDir dir;
  auto path = dir.path() / "cargo-maelstrom.toml";
  TestSpecFile d = TestSpecFile::load(path, cargo_adapter().default_spec, cargo_filter_language());
  EXPECT_EQ(d.directives().size(), 1u);

  write_default_spec_file(path, cargo_adapter().default_spec);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, cargo_adapter().default_spec);
  EXPECT_THROW(write_default_spec_file(path, "x"), UserError);

  std::ofstream(path) << "[[directives]]\nuser = 5\n";
  TestSpecFile l = TestSpecFile::load(path, cargo_adapter().default_spec, cargo_filter_language());
  EXPECT_EQ(l.metadata_for(cargo_test("p", "t")).container.user, 5u);

  // A directory in its place is an error, not an empty spec.
  auto dir_path = dir.path() / "sub" / "cargo-maelstrom.toml";
  std::filesystem::create_directories(dir_path);
  EXPECT_EQ(testing::user_error_of([&] {
              TestSpecFile::load(dir_path, cargo_adapter().default_spec, cargo_filter_language());
            }).rfind("cannot read test spec file " + dir_path.string() + ": it is a directory; ", 0),
            0u);
}

}  // namespace
}  // namespace mael
