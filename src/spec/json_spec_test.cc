#include "spec/json_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "base/error.h"

namespace mael {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<JobStreamItem> read_all(const std::string& text) {
  std::istringstream in(text);
  JobSpecStreamReader reader(in, "jobs.json");
  std::vector<JobStreamItem> out;
  while (auto item = reader.next()) out.push_back(std::move(*item));
  return out;
}

JobSpec job(const std::string& text) {
  auto items = read_all(text);
  EXPECT_EQ(items.size(), 1u);
  return std::get<JobSpec>(items.at(0).item);
}

std::string error_of(const std::string& text) {
  try {
    read_all(text);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(JsonSpec, MinimalJob) {
  JobSpec j = job(R"({"program": "/bin/true"})");
  EXPECT_EQ(j.program, "/bin/true");
  EXPECT_TRUE(j.arguments.empty());
  EXPECT_EQ(j.container, ContainerSpec{});
  EXPECT_EQ(j.timeout, std::nullopt);
  EXPECT_EQ(j.priority, 0);
}

TEST(JsonSpec, AllJobFields) {
  JobSpec j = job(R"({
    "program": "echo", "arguments": ["a", "b"], "timeout": 5, "priority": -3,
    "layers": [{"tar": "x.tar"}],
    "environment": {"FOO": "foo", "BAR": "$env{BAR:-b}"},
    "mounts": [{"type": "proc", "mount_point": "/proc"}, {"type": "devices", "devices": ["zero", "null", "zero"]},
               {"type": "bind", "mount_point": "/mnt", "local_path": "data", "read_only": true},
               {"type": "tmp", "mount_point": "/tmp"}, {"type": "sys", "mount_point": "/sys"},
               {"type": "devpts", "mount_point": "/dev/pts"}, {"type": "mqueue", "mount_point": "/dev/mqueue"}],
    "network": "loopback", "enable_writable_file_system": true, "working_directory": "/root",
    "user": 101, "group": 4294967295
  })");
  EXPECT_EQ(j.program, "echo");
  EXPECT_THAT(j.arguments, ElementsAre("a", "b"));
  EXPECT_EQ(j.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(j.priority, -3);
  const ContainerSpec& c = j.container;
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.parent));
  EXPECT_THAT(c.layers, ElementsAre(LayerSpec{TarLayer{"x.tar"}}));
  ASSERT_EQ(c.environment.size(), 1u);
  EXPECT_TRUE(c.environment[0].extend);
  EXPECT_EQ(c.environment[0].vars,
            (std::map<std::string, std::string>{{"BAR", "$env{BAR:-b}"}, {"FOO", "foo"}}));
  ASSERT_EQ(c.mounts.size(), 7u);
  EXPECT_EQ(c.mounts[0], (Mount{.type = MountType::Proc, .mount_point = "/proc"}));
  EXPECT_EQ(c.mounts[1], (Mount{.type = MountType::Devices, .devices = {Device::Null, Device::Zero}}));
  EXPECT_EQ(c.mounts[2],
            (Mount{.type = MountType::Bind, .mount_point = "/mnt", .local_path = "data", .read_only = true}));
  EXPECT_EQ(c.mounts[3].type, MountType::Tmp);
  EXPECT_EQ(c.mounts[4].type, MountType::Sys);
  EXPECT_EQ(c.mounts[5].type, MountType::Devpts);
  EXPECT_EQ(c.mounts[6], (Mount{.type = MountType::Mqueue, .mount_point = "/dev/mqueue"}));
  EXPECT_EQ(c.network, Network::Loopback);
  EXPECT_EQ(c.enable_writable_file_system, true);
  EXPECT_EQ(c.working_directory, "/root");
  EXPECT_EQ(c.user, 101u);
  EXPECT_EQ(c.group, 4294967295u);
}

TEST(JsonSpec, NullMeansNotGiven) {
  JobSpec j = job(R"({"program": "p", "user": null, "arguments": null, "timeout": null,
                      "image": {"name": "i", "use": null}, "layers": [{"glob": "*", "strip_prefix": null}]})");
  EXPECT_EQ(j.container.user, std::nullopt);
  EXPECT_TRUE(j.arguments.empty());
  EXPECT_EQ(std::get<ImageRef>(j.container.parent).use.size(), 2u);  // all but the given layers
  EXPECT_EQ(std::get<GlobLayer>(j.container.layers.at(0)).prefix.strip_prefix, std::nullopt);
}

TEST(JsonSpec, ZeroTimeoutMeansNone) {
  EXPECT_EQ(job(R"({"program": "p", "timeout": 0})").timeout, std::nullopt);
}

TEST(JsonSpec, EveryLayerKind) {
  JobSpec j = job(R"({"program": "p", "layers": [
    {"tar": "a.tar"},
    {"glob": "src/**", "strip_prefix": "src/", "prepend_prefix": "/app/", "canonicalize": true, "follow_symlinks": true},
    {"paths": ["a", "b/c"], "prepend_prefix": "/x"},
    {"stubs": ["/dev/{null,zero}", "/tmp/"]},
    {"symlinks": [{"link": "/bin/sh", "target": "/bin/busybox"}]},
    {"shared_library_dependencies": ["/bin/bash"], "prepend_prefix": "/"},
    {"command": "make-layer"},
    {"command": ["make-layer", "--fast"]}
  ]})");
  PrefixOptions glob_prefix{"src/", "/app/", true, true};
  EXPECT_THAT(
      j.container.layers,
      ElementsAre(LayerSpec{TarLayer{"a.tar"}}, LayerSpec{GlobLayer{"src/**", glob_prefix}},
                  LayerSpec{PathsLayer{{"a", "b/c"}, PrefixOptions{std::nullopt, "/x", false, false}}},
                  LayerSpec{StubsLayer{{"/dev/{null,zero}", "/tmp/"}}},
                  LayerSpec{SymlinksLayer{{SymlinkSpec{"/bin/sh", "/bin/busybox"}}}},
                  LayerSpec{SharedLibraryDependenciesLayer{{"/bin/bash"}, PrefixOptions{std::nullopt, "/"}}},
                  LayerSpec{CommandLayer{"make-layer", {}}},
                  LayerSpec{CommandLayer{"make-layer", {"--fast"}}}));
}

TEST(JsonSpec, ImageForms) {
  auto parent_of = [](const std::string& text) { return std::get<ImageRef>(job(text).container.parent); };
  // A bare name or a name without `use` means everything the image has.
  EXPECT_EQ(
      parent_of(R"({"program": "p", "image": "docker://alpine"})"),
      (ImageRef{"docker://alpine", {ImageUse::Layers, ImageUse::Environment, ImageUse::WorkingDirectory}}));
  EXPECT_EQ(parent_of(R"({"program": "p", "image": {"name": "docker://alpine"}})").use.size(), 3u);
  EXPECT_EQ(parent_of(R"({"program": "p", "image": {"name": "i", "use": ["working_directory", "layers"]}})"),
            (ImageRef{"i", {ImageUse::Layers, ImageUse::WorkingDirectory}}));
  // Fields given next to an implicit use drop out of it.
  EXPECT_EQ(
      parent_of(R"({"program": "p", "image": "i", "layers": [{"tar": "t"}], "working_directory": "/w"})"),
      (ImageRef{"i", {ImageUse::Environment}}));
  EXPECT_EQ(parent_of(R"({"program": "p", "image": "i", "environment": {"A": "a"}})"),
            (ImageRef{"i", {ImageUse::Layers, ImageUse::WorkingDirectory}}));
  // added_* keep the image's part.
  JobSpec j = job(R"({"program": "p", "image": {"name": "i", "use": ["layers", "environment"]},
                      "added_layers": [{"tar": "t"}], "added_environment": [{"vars": {"A": "$prev{A}:x"}, "extend": true}]})");
  EXPECT_EQ(std::get<ImageRef>(j.container.parent),
            (ImageRef{"i", {ImageUse::Layers, ImageUse::Environment}}));
  EXPECT_THAT(j.container.layers, ElementsAre(LayerSpec{TarLayer{"t"}}));
  EXPECT_EQ(j.container.environment, (std::vector<EnvironmentSpec>{{{{"A", "$prev{A}:x"}}, true}}));
}

TEST(JsonSpec, ParentForms) {
  JobSpec j = job(R"({"program": "/bin/sh", "parent": "parent", "layers": [{"tar": "1"}, {"tar": "2"}],
                      "added_environment": {"FOO": "foo"}, "working_directory": "/root"})");
  const auto& ref = std::get<ContainerRef>(j.container.parent);
  EXPECT_EQ(ref.name, "parent");
  EXPECT_THAT(ref.use, ElementsAre(ContainerUse::EnableWritableFileSystem, ContainerUse::Environment,
                                   ContainerUse::Mounts, ContainerUse::Network, ContainerUse::User,
                                   ContainerUse::Group));
  EXPECT_EQ(j.container.environment, (std::vector<EnvironmentSpec>{{{{"FOO", "foo"}}, true}}));
  JobSpec k =
      job(R"({"program": "p", "parent": {"name": "c", "use": ["mounts", "user"]}, "added_mounts": []})");
  EXPECT_EQ(std::get<ContainerRef>(k.container.parent),
            (ContainerRef{"c", {ContainerUse::Mounts, ContainerUse::User}}));
}

TEST(JsonSpec, StreamOfJobsAndContainers) {
  auto items = read_all(R"({"program": "a"}{"program": "b"}
    {
      "containers": {
        "c1": {"layers": [{"tar": "1"}], "user": 101},
        "c2": {"parent": "c1", "network": "loopback"}
      }
    }

    {"program": "c", "parent": "c2"}
  )");
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(std::get<JobSpec>(items[0].item).program, "a");
  EXPECT_EQ(items[0].line, 1);
  EXPECT_EQ(std::get<JobSpec>(items[1].item).program, "b");
  EXPECT_EQ(items[1].line, 1);
  const auto& containers = std::get<std::map<std::string, ContainerSpec>>(items[2].item);
  EXPECT_EQ(items[2].line, 2);
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers.at("c1").user, 101u);
  EXPECT_EQ(containers.at("c2").network, Network::Loopback);
  EXPECT_EQ(std::get<ContainerRef>(containers.at("c2").parent).name, "c1");
  EXPECT_EQ(items[3].line, 9);
  EXPECT_TRUE(read_all("  \n ").empty());
}

TEST(JsonSpec, ReadsObjectByObject) {
  // The reader must not need input beyond the current object (stdin streaming): after the
  // first object the rest of the stream is still unread.
  std::istringstream in(R"({"program": "a"} {"program": )");
  JobSpecStreamReader reader(in, "stdin");
  auto first = reader.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(std::get<JobSpec>(first->item).program, "a");
  std::string rest;
  std::getline(in, rest);
  EXPECT_EQ(rest, R"( {"program": )");
}

TEST(JsonSpec, MalformedJson) {
  EXPECT_EQ(
      error_of("{\"program\": \"a\"}\n{\"program\" \"b\"}"),
      "jobs.json: line 2 column 14: syntax error while parsing object separator - unexpected string literal; "
      "expected ':'");
  EXPECT_THAT(error_of(R"({"program": "a")"), HasSubstr("jobs.json: line 1 column 15: syntax error"));
  EXPECT_THAT(error_of("{\"program\": tru}"),
              HasSubstr("jobs.json: line 1 column 16: syntax error while parsing value"));
  EXPECT_EQ(error_of(R"([1, 2])"),
            "jobs.json: line 1 column 1: expected a JSON object (a job spec or "
            "{\"containers\": ...}), found a list");
  EXPECT_EQ(error_of(R"({"program": "a", "program": "b"})"),
            "jobs.json: line 1 column 18: duplicate field `program`");
}

TEST(JsonSpec, FieldErrors) {
  EXPECT_EQ(
      error_of("{\n\"program\": \"a\",\n  \"progam\": \"b\"}"),
      "jobs.json: line 3 column 3: unknown field `progam`, expected one of `image`, `parent`, `layers`, "
      "`added_layers`, `environment`, `added_environment`, `working_directory`, "
      "`enable_writable_file_system`, `mounts`, `added_mounts`, `network`, `user`, `group`, `program`, "
      "`arguments`, `timeout`, `priority`, `max_processes`, `max_memory`, `max_tmpfs_size`");
  EXPECT_EQ(error_of(R"({"arguments": []})"), "jobs.json: line 1 column 1: missing field `program`");
  EXPECT_EQ(error_of(R"({"program": ""})"), "jobs.json: line 1 column 2: field `program` must not be empty");
  EXPECT_EQ(error_of(R"({"program": 7})"),
            "jobs.json: line 1 column 13: field `program`: invalid type: integer `7`, expected a string");
  EXPECT_EQ(error_of(R"({"program": "p", "arguments": "a b"})"),
            "jobs.json: line 1 column 31: field `arguments`: invalid type: string \"a b\", expected a list "
            "of strings");
  EXPECT_EQ(
      error_of(R"({"program": "p", "network": "internet"})"),
      "jobs.json: line 1 column 29: field `network`: unknown network `internet`, expected one of `disabled`, "
      "`loopback`, `local`");
  EXPECT_EQ(error_of(R"({"program": "p", "timeout": -1})"),
            "jobs.json: line 1 column 29: field `timeout`: invalid value: integer `-1`, expected an integer "
            "from 0 to "
            "4294967295");
  EXPECT_EQ(
      error_of(R"({"program": "p", "timeout": 1.5})"),
      "jobs.json: line 1 column 29: field `timeout`: invalid type: floating point `1.500000`, expected an "
      "integer from 0 to 4294967295");
  EXPECT_EQ(
      error_of(R"({"program": "p", "priority": 300})"),
      "jobs.json: line 1 column 30: field `priority`: invalid value: integer `300`, expected an integer from "
      "-128 to 127");
  EXPECT_EQ(
      error_of(R"({"program": "p", "user": -1})"),
      "jobs.json: line 1 column 26: field `user`: invalid value: integer `-1`, expected an integer from 0 to "
      "4294967295");
  EXPECT_EQ(error_of(R"({"program": "p", "group": "wheel"})"),
            "jobs.json: line 1 column 27: field `group`: invalid type: string \"wheel\", expected an integer "
            "from 0 "
            "to 4294967295");
  EXPECT_EQ(error_of(R"({"program": "p", "enable_writable_file_system": "yes"})"),
            "jobs.json: line 1 column 49: field `enable_writable_file_system`: invalid type: string \"yes\", "
            "expected a boolean");
  EXPECT_EQ(
      error_of(R"({"containers": 42})"),
      "jobs.json: line 1 column 16: field `containers`: invalid type: integer `42`, expected a map from "
      "container names to containers");
  EXPECT_THAT(error_of(R"({"containers": {}, "program": "/bin/sh"})"),
              HasSubstr("unknown field `containers`"));
}

TEST(JsonSpec, LayerErrors) {
  auto err = [](const std::string& layer) {
    return error_of(R"({"program": "p", "layers": [)" + layer + "]}");
  };
  EXPECT_EQ(err(R"("x.tar")"),
            "jobs.json: line 1 column 29: invalid layer: string \"x.tar\", expected a map such as "
            "{ tar = \"FILE\" } or { \"tar\": \"FILE\" }");
  EXPECT_EQ(err(R"({"tarball": "x"})"),
            "jobs.json: line 1 column 29: couldn't determine layer type: a layer needs one "
            "of the keys `tar`, `glob`, `paths`, `stubs`, `symlinks`, "
            "`shared_library_dependencies`, `command`");
  EXPECT_EQ(err(R"({"tar": "x", "glob": "y"})"),
            "jobs.json: line 1 column 42: unknown field `glob`, expected one of `tar`");
  EXPECT_EQ(err(R"({"glob": "x", "strip": "y"})"),
            "jobs.json: line 1 column 43: unknown field `strip`, expected one of `glob`, `strip_prefix`, "
            "`prepend_prefix`, `canonicalize`, `follow_symlinks`");
  EXPECT_EQ(
      err(R"({"paths": "x"})"),
      "jobs.json: line 1 column 39: field `paths`: invalid type: string \"x\", expected a list of strings");
  EXPECT_EQ(
      err(R"({"glob": "x", "canonicalize": "yes"})"),
      "jobs.json: line 1 column 59: field `canonicalize`: invalid type: string \"yes\", expected a boolean");
  EXPECT_EQ(err(R"({"symlinks": [{"link": "a"}]})"), "jobs.json: line 1 column 43: missing field `target`");
  EXPECT_EQ(err(R"({"symlinks": [{"link": "a", "target": "b", "mode": 1}]})"),
            "jobs.json: line 1 column 72: unknown field `mode`, expected one of `link`, `target`");
  EXPECT_EQ(
      err(R"({"symlinks": "a"})"),
      "jobs.json: line 1 column 42: field `symlinks`: invalid type: string \"a\", expected a list of { link, "
      "target } maps");
  EXPECT_EQ(err(R"({"command": []})"),
            "jobs.json: line 1 column 41: command layer must at least specify the program");
  EXPECT_EQ(err(R"({"command": 1})"),
            "jobs.json: line 1 column 41: field `command`: invalid type: integer `1`, expected a string or a "
            "list of "
            "strings");
  EXPECT_EQ(error_of(R"({"program": "p", "layers": {"tar": "x"}})"),
            "jobs.json: line 1 column 28: field `layers`: invalid type: a map, expected a list of layers");
}

TEST(JsonSpec, RelativeMountPointIsFromTheRoot) {
  // As in Maelstrom: "tmp" mounts at "/tmp".
  JobSpec j = job(R"({"program": "p", "mounts": [{"type": "tmp", "mount_point": "tmp"},
                      {"type": "proc", "mount_point": "a/proc"}]})");
  ASSERT_EQ(j.container.mounts.size(), 2u);
  EXPECT_EQ(j.container.mounts[0].mount_point, "/tmp");
  EXPECT_EQ(j.container.mounts[1].mount_point, "/a/proc");
}

TEST(JsonSpec, MountErrors) {
  auto err = [](const std::string& mount) {
    return error_of(R"({"program": "p", "mounts": [)" + mount + "]}");
  };
  EXPECT_EQ(err(R"({"mount_point": "/x"})"), "jobs.json: line 1 column 29: missing field `type`");
  EXPECT_EQ(err(R"({"type": "nfs", "mount_point": "/x"})"),
            "jobs.json: line 1 column 38: field `type`: unknown mount type `nfs`, expected one of `bind`, "
            "`devices`, "
            "`devpts`, `mqueue`, `proc`, `sys`, `tmp`");
  EXPECT_EQ(
      err(R"({"type": "devices", "devices": ["null", "bull"]})"),
      "jobs.json: line 1 column 69: field `devices`: unknown device `bull`, expected one of `full`, `fuse`, "
      "`null`, `random`, `shm`, `tty`, `urandom`, `zero`");
  EXPECT_EQ(err(R"({"type": "proc", "mount_point": "/"})"),
            "jobs.json: line 1 column 61: field `mount_point`: a path of \"/\" is not allowed");
  EXPECT_EQ(err(R"({"type": "proc"})"), "jobs.json: line 1 column 29: missing field `mount_point`");
  EXPECT_EQ(err(R"({"type": "bind", "mount_point": "/m"})"),
            "jobs.json: line 1 column 29: missing field `local_path`");
  EXPECT_EQ(err(R"({"type": "tmp", "mount_point": "/t", "read_only": true})"),
            "jobs.json: line 1 column 66: unknown field `read_only`, expected one of `type`, `mount_point`");
  EXPECT_EQ(err(R"({"type": "bind", "mount_point": "/m", "local_path": "l", "read_only": 1})"),
            "jobs.json: line 1 column 99: field `read_only`: invalid type: integer `1`, expected a boolean");
  EXPECT_EQ(err(R"("proc")"),
            "jobs.json: line 1 column 29: field `mounts`: invalid type: string \"proc\", expected a "
            "map with a `type`");
}

TEST(JsonSpec, EnvironmentErrors) {
  auto err = [](const std::string& env) {
    return error_of(R"({"program": "p", "environment": )" + env + "}");
  };
  EXPECT_EQ(err(R"({"A": 1})"),
            "jobs.json: line 1 column 39: field `A`: invalid type: integer `1`, expected a string");
  EXPECT_EQ(
      err(R"({"A": "$HOME"})"),
      "jobs.json: line 1 column 39: environment variable `A`: `$` must be followed by \"$\", \"env{\", or "
      "\"prev{\" (write \"$$\" for a literal \"$\")");
  EXPECT_EQ(err(R"([{"vars": {"A": "a"}}])"), "jobs.json: line 1 column 34: missing field `extend`");
  for (const char* bad : {R"({"A=B": "c"})", R"({"": "c"})"})
    EXPECT_THAT(err(bad), HasSubstr(": a name must be non-empty, without `=`")) << bad;
  EXPECT_EQ(
      err(R"({"A": "x\u0000y"})"),
      "jobs.json: line 1 column 39: field `A`: a NUL character (\\u0000) cannot be passed to a program");
  EXPECT_EQ(err(R"([{"extend": true}])"), "jobs.json: line 1 column 34: missing field `vars`");
  EXPECT_EQ(err(R"([{"vars": {}, "extend": true, "x": 1}])"),
            "jobs.json: line 1 column 63: unknown field `x`, expected one of `vars`, `extend`");
  EXPECT_EQ(err(R"("A=b")"),
            "jobs.json: line 1 column 33: field `environment`: invalid type: string \"A=b\", expected "
            "a map of variables or a list of { vars, extend } maps");
}

TEST(JsonSpec, ImageAndParentErrors) {
  EXPECT_EQ(error_of(R"({"program": "p", "image": "i", "parent": "c"})"),
            "jobs.json: line 1 column 32: both `image` and `parent` cannot be specified");
  EXPECT_EQ(
      error_of(R"({"program": "p", "image": {"name": "i", "use": ["layers"]}, "layers": [{"tar": "1"}]})"),
      "jobs.json: line 1 column 61: field `layers` cannot be set if `image` with an explicit `use` of "
      "`layers` "
      "is also specified (try `added_layers` instead)");
  EXPECT_EQ(
      error_of(R"({"program": "p", "image": {"name": "i", "use": ["environment"]}, "environment": {}})"),
      "jobs.json: line 1 column 66: field `environment` cannot be set if `image` with an explicit `use` of "
      "`environment` is also specified (try `added_environment` instead)");
  EXPECT_EQ(
      error_of(R"({"program": "p", "image": {"name": "i", "use": ["environment"]}, "added_layers": []})"),
      "jobs.json: line 1 column 66: field `added_layers` requires `image` being specified with a `use` of "
      "`layers` (try `layers` instead)");
  EXPECT_EQ(error_of(R"({"program": "p", "added_layers": []})"),
            "jobs.json: line 1 column 18: field `added_layers` cannot be set without `image` or `parent` "
            "also being "
            "specified (try `layers` instead)");
  EXPECT_EQ(error_of(R"({"program": "p", "layers": [], "added_layers": []})"),
            "jobs.json: line 1 column 32: field `added_layers` cannot be set with `layers` field");
  EXPECT_EQ(
      error_of(R"({"program": "p", "image": "i", "added_mounts": []})"),
      "jobs.json: line 1 column 32: field `added_mounts` cannot be set without `parent` also being specified "
      "(try `mounts` instead)");
  EXPECT_EQ(
      error_of(R"({"program": "p", "parent": {"name": "c", "use": ["layers"]}, "added_mounts": []})"),
      "jobs.json: line 1 column 62: field `added_mounts` requires `parent` being specified with a `use` of "
      "`mounts` (try `mounts` instead)");
  EXPECT_EQ(error_of(R"({"program": "p", "parent": {"name": "c", "use": ["mounts"]}, "mounts": []})"),
            "jobs.json: line 1 column 62: field `mounts` cannot be set if `parent` with an explicit `use` of "
            "`mounts` "
            "is also specified (try `added_mounts` instead)");
  EXPECT_EQ(error_of(R"({"program": "p", "parent": {"name": "c", "use": ["user"]}, "user": 1})"),
            "jobs.json: line 1 column 60: field `user` cannot be set if `parent` with an explicit `use` of "
            "`user` is "
            "also specified");
  EXPECT_EQ(
      error_of(
          R"({"program": "p", "image": {"name": "i", "use": ["working_directory"]}, "working_directory": "/"})"),
      "jobs.json: line 1 column 72: field `working_directory` cannot be set if `image` with an explicit "
      "`use` of "
      "`working_directory` is also specified");
  EXPECT_EQ(
      error_of(R"({"program": "p", "image": {"name": "i", "use": ["everything"]}})"),
      "jobs.json: line 1 column 49: field `use`: unknown variant `everything`, expected one of `layers`, "
      "`environment`, `working_directory`");
  EXPECT_EQ(error_of(R"({"program": "p", "image": {"name": "i", "tag": "x"}})"),
            "jobs.json: line 1 column 41: unknown field `tag`, expected one of `name`, `use`");
  EXPECT_EQ(error_of(R"({"program": "p", "image": {"use": []}})"),
            "jobs.json: line 1 column 27: missing field `name`");
  EXPECT_EQ(error_of(R"({"program": "p", "parent": 3})"),
            "jobs.json: line 1 column 28: field `parent`: invalid type: integer `3`, expected a string or a "
            "map with "
            "`name` and `use`");
  EXPECT_EQ(
      error_of(
          R"({"containers": {"c": {"image": {"name": "image1", "use": ["layers"]}, "layers": [{"tar": "1"}]}}})"),
      "jobs.json: line 1 column 71: field `layers` cannot be set if `image` with an explicit `use` of "
      "`layers` "
      "is also specified (try `added_layers` instead)");
}

TEST(JsonValue, ParsesOneValue) {
  Value v = parse_json_value("\n {\"a\": [1, true, null, \"s\", 2.5]}\n", "x.json");
  ASSERT_TRUE(v.is_table());
  EXPECT_EQ(v.pos.line, 2);
  const Value* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items.size(), 5u);
  EXPECT_EQ(a->items[0].integer, 1);
  EXPECT_TRUE(a->items[1].boolean);
  EXPECT_EQ(a->items[2].kind, Value::Kind::Null);
  EXPECT_EQ(a->items[3].string, "s");
  EXPECT_EQ(a->items[4].number, 2.5);
  EXPECT_THROW(parse_json_value("", "x.json"), UserError);
  EXPECT_THROW(parse_json_value("{} {}", "x.json"), UserError);
}

TEST(JsonSpec, NestingIsBounded) {
  // A million levels used to overflow the stack while the tree was torn down.
  std::string deep = "{\"program\": \"p\",\n \"arguments\": " + std::string(1'000'000, '[') +
                     std::string(1'000'000, ']') + "}";
  EXPECT_EQ(error_of(deep), "jobs.json: line 2 column 142: arrays and objects nested more than 128 levels "
                            "deep (the limit)");
  // Within the bound the spec is read (and found wrong for what it is).
  std::string ok = "{\"program\": \"p\", \"arguments\": [" + std::string(126, '[') + std::string(127, ']') + "}";
  EXPECT_THAT(error_of(ok), HasSubstr("field `arguments`"));
}

TEST(JsonSpec, SizeOfOneValueIsBounded) {
  std::string big = "{\"program\": \"p\"}\n{\"program\": \"" + std::string(17 << 20, 'x') + "\"}";
  EXPECT_EQ(error_of(big),
            "jobs.json: line 2: a JSON value longer than 16 MiB (the limit for one job spec or containers object)");
  // The bound is per value: many jobs together may be longer.
  std::string job = "{\"program\": \"" + std::string(1 << 20, 'x') + "\"}\n";
  std::string many;
  for (int i = 0; i < 20; ++i) many += job;
  EXPECT_EQ(read_all(many).size(), 20u);
}

TEST(JsonSpec, Limits) {
  JobSpec j = job(R"({"program": "p", "max_processes": 64, "max_memory": "512 MiB", "max_tmpfs_size": 1048576})");
  EXPECT_EQ(j.limits.max_processes, 64u);
  EXPECT_EQ(j.limits.max_memory, uint64_t{512} << 20);
  EXPECT_EQ(j.limits.max_tmpfs_size, uint64_t{1} << 20);
  EXPECT_EQ(job(R"({"program": "p"})").limits, JobLimits{});
  EXPECT_EQ(error_of(R"({"program": "p", "max_processes": 0})"),
            "jobs.json: line 1 column 35: field `max_processes`: invalid value: integer `0`, expected an integer "
            "from 1 to 1073741824");
  EXPECT_EQ(error_of(R"({"program": "p", "max_memory": "lots"})"),
            "jobs.json: line 1 column 32: field `max_memory`: invalid value: string \"lots\", expected a number of "
            "bytes from 1, or a size such as \"512 MiB\"");
}

}  // namespace
}  // namespace mael
