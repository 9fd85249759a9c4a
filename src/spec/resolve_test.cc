#include "spec/resolve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_errors.h"
#include "spec/environment.h"

namespace mael {
namespace {

using testing::user_error_of;

using ::testing::ElementsAre;

const EnvLookup kEnv = map_env_lookup({{"HOME", "/home/me"}, {"EMPTY", ""}});

LayerSpec tar(const std::string& p) {
  return TarLayer{p};
}
EnvironmentSpec env(std::map<std::string, std::string> vars, bool extend = true) {
  return {std::move(vars), extend};
}
ContainerRef cref(const std::string& name, std::vector<ContainerUse> use) {
  return {name, std::move(use)};
}
const std::vector<ContainerUse> kAll{ContainerUse::Layers,      ContainerUse::EnableWritableFileSystem,
                                     ContainerUse::Environment, ContainerUse::WorkingDirectory,
                                     ContainerUse::Mounts,      ContainerUse::Network,
                                     ContainerUse::User,        ContainerUse::Group};

ImageLookup no_image() {
  return
      [](const std::string& name) -> ImageContribution { throw std::logic_error("unexpected image lookup " + name); };
}

TEST(Environment, EvaluatesInOrderWithExtendAndPrev) {
  Environment initial{{"PATH", "/bin"}, {"KEEP", "$env{NOT_EXPANDED}"}};
  std::vector<EnvironmentSpec> specs{env({{"PATH", "$prev{PATH}:/usr/bin"}, {"H", "$env{HOME}"}}),
                                     env({{"PATH", "/x:$prev{PATH}"}, {"D", "$env{EMPTY:-d}"}})};
  EXPECT_EQ(
      evaluate_environment(specs, initial, kEnv),
      (Environment{
          {"D", "d"}, {"H", "/home/me"}, {"KEEP", "$env{NOT_EXPANDED}"}, {"PATH", "/x:/bin:/usr/bin"}}));
  // extend=false starts over, but $prev still sees what came before.
  std::vector<EnvironmentSpec> replace{env({{"P", "$prev{PATH}"}}, false)};
  EXPECT_EQ(evaluate_environment(replace, initial, kEnv), (Environment{{"P", "/bin"}}));
  // Values within one spec see the environment before that spec, not each other.
  std::vector<EnvironmentSpec> same{env({{"A", "1"}, {"B", "$prev{A:-none}"}})};
  EXPECT_EQ(evaluate_environment(same, {}, kEnv), (Environment{{"A", "1"}, {"B", "none"}}));
  EXPECT_THAT(environment_strings({{"B", "2"}, {"A", "x=y"}}), ElementsAre("A=x=y", "B=2"));
}

TEST(Environment, Errors) {
  EXPECT_EQ(user_error_of([] {
              evaluate_environment({env({{"X", "$env{NOPE}"}})}, {}, kEnv);
            }),
            "environment variable `X`: unknown variable \"NOPE\" in `$env{NOPE}`: set it in the environment "
            "or give "
            "a default with `$env{NOPE:-default}`");
  EXPECT_EQ(user_error_of([] {
              parse_environment_strings({"A=1", "BROKEN"}, "image docker://x");
            }),
            "image docker://x has an invalid environment variable \"BROKEN\" (no '=')");
  EXPECT_EQ(parse_environment_strings({"A=1", "B=x=y", "C="}, "i"),
            (Environment{{"A", "1"}, {"B", "x=y"}, {"C", ""}}));
}

TEST(Resolve, PlainContainerGetsDefaults) {
  ContainerSpec spec;
  spec.layers = {tar("a.tar")};
  ResolvedContainer r = resolve_container(spec, {}, no_image(), kEnv);
  EXPECT_THAT(r.layers, ElementsAre(tar("a.tar")));
  EXPECT_TRUE(r.environment.empty());
  EXPECT_EQ(r.network, Network::Disabled);
  EXPECT_FALSE(r.enable_writable_file_system);
  EXPECT_EQ(r.working_directory, "/");
  EXPECT_EQ(r.user, 0u);
  EXPECT_EQ(r.group, 0u);
}

TEST(Resolve, ChainOfNamedContainers) {
  NamedContainers named;
  ContainerSpec& gp = named["grandparent"];
  gp.layers = {tar("gp.tar")};
  gp.environment = {env({{"A", "gp"}, {"G", "g"}})};
  gp.mounts = {Mount{.type = MountType::Proc, .mount_point = "/proc"}};
  gp.network = Network::Loopback;
  gp.user = 5;
  gp.group = 6;
  gp.working_directory = "/gp";
  gp.enable_writable_file_system = true;
  ContainerSpec& p = named["parent"];
  p.parent = cref("grandparent", kAll);
  p.layers = {tar("p.tar")};
  p.environment = {env({{"A", "$prev{A}+p"}})};
  p.user = 7;

  ContainerSpec job;
  job.parent = cref("parent", kAll);
  job.layers = {tar("job.tar")};
  job.mounts = {Mount{.type = MountType::Tmp, .mount_point = "/tmp"}};
  job.group = 9;
  ResolvedContainer r = resolve_container(job, named, no_image(), kEnv);
  EXPECT_THAT(r.layers, ElementsAre(tar("gp.tar"), tar("p.tar"), tar("job.tar")));
  EXPECT_THAT(r.environment, ElementsAre("A=gp+p", "G=g"));
  ASSERT_EQ(r.mounts.size(), 2u);
  EXPECT_EQ(r.mounts[0].type, MountType::Proc);
  EXPECT_EQ(r.mounts[1].type, MountType::Tmp);
  EXPECT_EQ(r.network, Network::Loopback);
  EXPECT_EQ(r.user, 7u);   // nearest setter wins
  EXPECT_EQ(r.group, 9u);  // the job's own
  EXPECT_EQ(r.working_directory, "/gp");
  EXPECT_TRUE(r.enable_writable_file_system);
}

TEST(Resolve, UseLimitsWhatParentsGive) {
  NamedContainers named;
  named["gp"].layers = {tar("gp.tar")};
  named["gp"].user = 1;
  named["gp"].network = Network::Local;
  named["p"].parent = cref("gp", {ContainerUse::Layers, ContainerUse::User, ContainerUse::Network});
  named["p"].layers = {tar("p.tar")};
  named["p"].user = 2;
  ContainerSpec job;
  job.parent = cref("p", {ContainerUse::Layers, ContainerUse::Network});
  ResolvedContainer r = resolve_container(job, named, no_image(), kEnv);
  EXPECT_THAT(r.layers, ElementsAre(tar("gp.tar"), tar("p.tar")));
  EXPECT_EQ(r.user, 0u);  // not used from p, so neither from gp
  EXPECT_EQ(r.network, Network::Local);

  // Nothing used: the parent is not even looked up.
  ContainerSpec none;
  none.parent = cref("missing", {});
  none.layers = {tar("x")};
  EXPECT_THAT(resolve_container(none, named, no_image(), kEnv).layers, ElementsAre(tar("x")));
}

TEST(Resolve, ImageAtTheTop) {
  NamedContainers named;
  named["base"].parent =
      ImageRef{"docker://rust", {ImageUse::Layers, ImageUse::Environment, ImageUse::WorkingDirectory}};
  named["base"].layers = {tar("base.tar")};
  named["base"].environment = {env({{"PATH", "$prev{PATH}:/cargo/bin"}})};
  ContainerSpec job;
  job.parent =
      cref("base", {ContainerUse::Layers, ContainerUse::Environment, ContainerUse::WorkingDirectory});
  job.layers = {tar("job.tar")};

  CollapsedContainer c = collapse_container(job, named);
  ASSERT_TRUE(c.image.has_value());
  EXPECT_EQ(*c.image, (ImageRef{"docker://rust",
                                {ImageUse::Layers, ImageUse::Environment, ImageUse::WorkingDirectory}}));
  EXPECT_THAT(c.layers, ElementsAre(tar("base.tar"), tar("job.tar")));

  int lookups = 0;
  ImageLookup lookup = [&](const std::string& name) {
    ++lookups;
    EXPECT_EQ(name, "docker://rust");
    return ImageContribution{{tar("/cache/l1.tar"), tar("/cache/l2.tar")}, {"PATH=/usr/bin", "LANG=C"}, "/work"};
  };
  ResolvedContainer r = resolve_container(job, named, lookup, kEnv);
  EXPECT_EQ(lookups, 1);
  EXPECT_THAT(r.layers,
              ElementsAre(tar("/cache/l1.tar"), tar("/cache/l2.tar"), tar("base.tar"), tar("job.tar")));
  EXPECT_THAT(r.environment, ElementsAre("LANG=C", "PATH=/usr/bin:/cargo/bin"));
  EXPECT_EQ(r.working_directory, "/work");
}

TEST(Resolve, ImageUseIsMaskedByNearerFields) {
  ContainerSpec job;
  job.parent = ImageRef{"img", {ImageUse::Layers, ImageUse::WorkingDirectory}};
  job.working_directory = "/mine";
  job.layers = {tar("mine.tar")};
  CollapsedContainer c = collapse_container(job, {});
  EXPECT_EQ(c.image, (ImageRef{"img", {ImageUse::Layers}}));
  ImageLookup lookup = [](const std::string&) { return ImageContribution{{tar("/i.tar")}, {"A=1"}, "/img"}; };
  ResolvedContainer r = resolve_container(job, {}, lookup, kEnv);
  EXPECT_EQ(r.working_directory, "/mine");
  EXPECT_TRUE(r.environment.empty());  // environment not used
  EXPECT_THAT(r.layers, ElementsAre(tar("/i.tar"), tar("mine.tar")));

  // A named container that uses only the image's working directory, reached through a use that
  // excludes it: the image is not needed at all.
  NamedContainers named;
  named["c"].parent = ImageRef{"img", {ImageUse::WorkingDirectory}};
  ContainerSpec j2;
  j2.parent = cref("c", {ContainerUse::Layers});
  j2.layers = {tar("x")};
  EXPECT_EQ(collapse_container(j2, named).image, std::nullopt);
  EXPECT_THAT(resolve_container(j2, named, no_image(), kEnv).layers, ElementsAre(tar("x")));
}

TEST(Resolve, Errors) {
  ContainerSpec job;
  job.parent = cref("unknown", kAll);
  EXPECT_EQ(user_error_of([&] { collapse_container(job, {}); }), "couldn't find parent container \"unknown\"");

  NamedContainers loop;
  loop["p1"].parent = cref("p3", kAll);
  loop["p2"].parent = cref("p1", kAll);
  loop["p3"].parent = cref("p2", kAll);
  job.parent = cref("p1", kAll);
  EXPECT_EQ(user_error_of([&] { collapse_container(job, loop); }),
            "parent loop found: \"p1\" -> \"p3\" -> \"p2\" -> \"p1\"");

  ResolvedContainer empty;
  EXPECT_EQ(user_error_of([&] { check_job_container(empty); }),
            "the job has no layers: specify at least one layer, or use an image that has layers");
  ResolvedContainer sys;
  sys.layers = {tar("x")};
  sys.network = Network::Local;
  sys.mounts = {Mount{.type = MountType::Sys, .mount_point = "/sys"}};
  EXPECT_EQ(user_error_of([&] { check_job_container(sys); }),
            "a \"sys\" mount is not compatible with `network = \"local\"` (the kernel refuses it): drop the "
            "mount or "
            "use another network");
  sys.network = Network::Loopback;
  EXPECT_NO_THROW(check_job_container(sys));

  ContainerSpec bad_env;
  bad_env.layers = {tar("x")};
  bad_env.environment = {env({{"X", "$prev{UNSET}"}})};
  EXPECT_EQ(
      user_error_of([&] { resolve_container(bad_env, {}, no_image(), kEnv); }),
      "environment variable `X`: unknown variable \"UNSET\" in `$prev{UNSET}`: it has no value yet; give a "
      "default with `$prev{UNSET:-default}`");
}

}  // namespace
}  // namespace mael
