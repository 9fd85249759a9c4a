#include "spec/toml_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_errors.h"

namespace mael {
namespace {

using testing::user_error_of;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const SpecContext kCtx("cargo-maelstrom.toml");


TEST(TomlSpec, SyntaxErrorsNameFileAndLine) {
  EXPECT_THAT(user_error_of([] { parse_toml_text("a = 1\nb = \n", "cargo-maelstrom.toml"); }),
              HasSubstr("cargo-maelstrom.toml: line 2 column "));
  EXPECT_THAT(
      user_error_of([] { parse_toml_text("a = 1\na = 2\n", "cargo-maelstrom.toml"); }),
      HasSubstr(
          "cargo-maelstrom.toml: line 2 column 5: Error while parsing key-value pair: cannot redefine"));
}

TEST(TomlSpec, NonAsciiWhereWhitespaceMayBe) {
  // toml++ 3.3.0 reached __builtin_unreachable() for these (the sanitizer build reports it).
  toml::table t = parse_toml_text("s = \"\"\"\\\n  \xC3\xA9t\xC3\xA9\"\"\"\n", "f.toml");
  EXPECT_EQ(t["s"].value<std::string>(), "\xC3\xA9t\xC3\xA9");
  EXPECT_THAT(user_error_of([] { parse_toml_text("a = 1 \xC5\x8A\n", "f.toml"); }),
              HasSubstr("f.toml: line 1 column 7: "));
  EXPECT_THAT(user_error_of([] { parse_toml_text("\xE3\x80\x80\xEF\xBC\x80", "f.toml"); }),
              HasSubstr("f.toml: line 1 column 1: "));
  // Non-ASCII whitespace outside strings is refused (TOML 1.0).
  EXPECT_THAT(user_error_of([] { parse_toml_text("a = 1\xC2\xA0\n", "f.toml"); }), HasSubstr("f.toml: line 1"));
}

TEST(TomlSpec, ValuesKeepPositionsAndDocumentOrder) {
  toml::table t = parse_toml_text("zeta = 1\nalpha = \"x\"\n[sub]\nb = [true, 2.5]\n", "f.toml");
  Value v = toml_to_value(t);
  ASSERT_EQ(v.fields.size(), 3u);
  EXPECT_EQ(v.fields[0].key, "zeta");
  EXPECT_EQ(v.fields[0].key_pos.line, 1);
  EXPECT_EQ(v.fields[1].key, "alpha");
  EXPECT_EQ(v.fields[1].value.pos.line, 2);
  EXPECT_EQ(v.fields[1].value.pos.column, 9);
  const Value* b = v.find("sub")->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->items[0].boolean);
  EXPECT_EQ(b->items[1].number, 2.5);
  EXPECT_EQ(b->pos.line, 4);
}

TEST(TomlSpec, Layers) {
  toml::table t = parse_toml_text(R"(
layers = [
  { tar = "foo.tar" },
  { glob = "<build-dir>/x", strip_prefix = "a", canonicalize = true },
  { paths = ["a"] },
  { stubs = ["/dev/{null,zero}", "/proc/", "/tmp/"] },
  { symlinks = [{ link = "/l", target = "/t" }] },
  { shared_library_dependencies = ["/bin/bash"], follow_symlinks = true },
  { command = ["gen", "x"] },
]
)",
                                  "f.toml");
  std::vector<LayerSpec> layers = parse_layers(*t.get("layers"), kCtx);
  EXPECT_THAT(
      layers,
      ElementsAre(LayerSpec{TarLayer{"foo.tar"}},
                  LayerSpec{GlobLayer{"<build-dir>/x", PrefixOptions{"a", std::nullopt, true, false}}},
                  LayerSpec{PathsLayer{{"a"}, {}}},
                  LayerSpec{StubsLayer{{"/dev/{null,zero}", "/proc/", "/tmp/"}}},
                  LayerSpec{SymlinksLayer{{SymlinkSpec{"/l", "/t"}}}},
                  LayerSpec{SharedLibraryDependenciesLayer{
                      {"/bin/bash"}, PrefixOptions{std::nullopt, std::nullopt, false, true}}},
                  LayerSpec{CommandLayer{"gen", {"x"}}}));
  EXPECT_EQ(std::get<TarLayer>(parse_layer(*t.get("layers")->as_array()->get(0), kCtx)).path, "foo.tar");
}

TEST(TomlSpec, LayerErrorsNameLineAndKey) {
  toml::table t = parse_toml_text("layers = [\n  { tar = \"x\", strip_prefix = \"y\" },\n]\n", "f.toml");
  EXPECT_EQ(user_error_of([&] { parse_layers(*t.get("layers"), kCtx); }),
            "cargo-maelstrom.toml: line 2 column 16: unknown field `strip_prefix`, expected one of `tar`");
  toml::table u = parse_toml_text("layers = [{ tar = 1 }]\n", "f.toml");
  EXPECT_EQ(
      user_error_of([&] { parse_layers(*u.get("layers"), kCtx); }),
      "cargo-maelstrom.toml: line 1 column 19: field `tar`: invalid type: integer `1`, expected a string");
  toml::table w = parse_toml_text("layers = [{ tar = 1979-05-27 }]\n", "f.toml");
  EXPECT_EQ(
      user_error_of([&] { parse_layers(*w.get("layers"), kCtx); }),
      "cargo-maelstrom.toml: line 1 column 19: field `tar`: invalid type: a date or time, expected a string");
}

TEST(TomlSpec, MountsEnvironmentImageNetwork) {
  toml::table t = parse_toml_text(R"(
mounts = [
  { type = "tmp", mount_point = "/tmp" },
  { type = "devices", devices = ["fuse", "full"] },
  { type = "bind", mount_point = "/m", local_path = "l" },
]
env1 = { FOO = "bar", PATH = "$prev{PATH}:/x" }
env2 = [{ vars = { A = "a" }, extend = false }]
image = { name = "docker://rust", use = ["layers", "environment"] }
image2 = "docker://alpine"
parent = { name = "base", use = ["network"] }
network = "local"
)",
                                  "f.toml");
  EXPECT_EQ(parse_mount(*t["mounts"][0].node(), kCtx),
            (Mount{.type = MountType::Tmp, .mount_point = "/tmp"}));
  EXPECT_EQ(parse_mount(*t["mounts"][1].node(), kCtx),
            (Mount{.type = MountType::Devices, .devices = {Device::Full, Device::Fuse}}));
  EXPECT_EQ(parse_mount(*t["mounts"][2].node(), kCtx),
            (Mount{.type = MountType::Bind, .mount_point = "/m", .local_path = "l"}));
  EXPECT_EQ(parse_environment(*t.get("env1"), kCtx),
            (std::vector<EnvironmentSpec>{{{{"FOO", "bar"}, {"PATH", "$prev{PATH}:/x"}}, true}}));
  EXPECT_EQ(parse_environment(*t.get("env2"), kCtx), (std::vector<EnvironmentSpec>{{{{"A", "a"}}, false}}));
  EXPECT_EQ(parse_image_ref(*t.get("image"), kCtx),
            (ImageRefField{"docker://rust", std::vector<ImageUse>{ImageUse::Layers, ImageUse::Environment}}));
  EXPECT_EQ(parse_image_ref(*t.get("image2"), kCtx), (ImageRefField{"docker://alpine", std::nullopt}));
  EXPECT_EQ(parse_container_ref(*t.get("parent"), kCtx),
            (ContainerRefField{"base", std::vector<ContainerUse>{ContainerUse::Network}}));
  EXPECT_EQ(parse_network(*t.get("network"), kCtx), Network::Local);
  EXPECT_EQ(user_error_of([&] { parse_mount(*t.get("network"), kCtx); }),
            "cargo-maelstrom.toml: line 12 column 11: field `mounts`: invalid type: string \"local\", "
            "expected a map "
            "with a `type`");
}

TEST(TomlSpec, ContainersTable) {
  toml::table t = parse_toml_text(R"(
[containers.base]
image = "docker://rust"
added_layers = [{ tar = "extra.tar" }]
user = 1000

[containers.child]
parent = "base"
network = "loopback"
added_mounts = [{ type = "proc", mount_point = "/proc" }]
)",
                                  "f.toml");
  auto containers = parse_containers(*t.get_as<toml::table>("containers"), kCtx);
  ASSERT_EQ(containers.size(), 2u);
  const ContainerSpec& base = containers.at("base");
  EXPECT_EQ(
      std::get<ImageRef>(base.parent),
      (ImageRef{"docker://rust", {ImageUse::Layers, ImageUse::Environment, ImageUse::WorkingDirectory}}));
  EXPECT_THAT(base.layers, ElementsAre(LayerSpec{TarLayer{"extra.tar"}}));
  EXPECT_EQ(base.user, 1000u);
  const ContainerSpec& child = containers.at("child");
  EXPECT_EQ(child.network, Network::Loopback);
  const auto& ref = std::get<ContainerRef>(child.parent);
  EXPECT_EQ(ref.name, "base");
  EXPECT_EQ(ref.use.size(), 7u);  // all but network, which the child sets
  EXPECT_EQ(child.mounts.size(), 1u);
}

TEST(TomlSpec, ContainerErrorsAndDirectiveKeys) {
  toml::table t = parse_toml_text(R"toml(
[[directives]]
filter = "package.equals(foo_bar)"
image = "docker://rust"
parent = "base"

[[directives]]
filter = "all"
include_shared_libraries = true
enviroment = { A = "b" }
)toml",
                                  "f.toml");
  const toml::array& directives = *t.get_as<toml::array>("directives");
  static constexpr std::string_view kDirectiveKeys[] = {"filter", "include_shared_libraries", "timeout",
                                                        "ignore"};
  // A runner parses its own keys and leaves container keys to us.
  ContainerFields f0 = parse_container_fields(*directives[0].as_table(), kCtx, kDirectiveKeys);
  EXPECT_EQ(f0.image->name, "docker://rust");
  EXPECT_EQ(f0.parent->name, "base");
  EXPECT_EQ(f0.key_pos.at("parent").line, 5);
  EXPECT_EQ(f0.key_pos.count("filter"), 0u);
  EXPECT_EQ(user_error_of([&] { to_container_spec(f0, kCtx); }),
            "cargo-maelstrom.toml: line 5 column 1: both `image` and `parent` cannot be specified");
  EXPECT_THAT(
      user_error_of([&] { parse_container_fields(*directives[1].as_table(), kCtx, kDirectiveKeys); }),
      HasSubstr(
          "cargo-maelstrom.toml: line 10 column 1: unknown field `enviroment`, expected one of `image`"));
  EXPECT_THAT(user_error_of([&] { parse_container_spec(*directives[1].as_table(), kCtx); }),
              HasSubstr("cargo-maelstrom.toml: line 8 column 1: unknown field `filter`"));
}

}  // namespace
}  // namespace mael
