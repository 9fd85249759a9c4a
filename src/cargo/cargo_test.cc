#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "cargo/cargo_build.h"
#include "cargo/cargo_cases.h"
#include "cargo/cargo_metadata.h"

namespace mael {
namespace {

constexpr const char* kMetadata = R"({
  "packages": [
    {"name": "foo", "version": "0.1.0", "id": "path+file:///ws/foo#0.1.0", "manifest_path": "/ws/foo/Cargo.toml",
     "targets": [
       {"name": "foo", "kind": ["lib"], "test": true},
       {"name": "foo-cli", "kind": ["bin"], "test": true},
       {"name": "int", "kind": ["test"], "test": true},
       {"name": "ex", "kind": ["example"], "test": false}]},
    {"name": "dep", "version": "1.0.0", "id": "registry+dep#1.0.0", "manifest_path": "/r/dep/Cargo.toml",
     "targets": [{"name": "dep", "kind": ["lib"]}]}
  ],
  "workspace_members": ["path+file:///ws/foo#0.1.0"],
  "workspace_root": "/ws",
  "target_directory": "/ws/target"
})";

std::string artifact(const std::string& pkg, const std::string& name, const std::string& kind, bool test,
                     const char* exe) {
  std::string e = exe ? std::string("\"") + exe + "\"" : "null";
  return R"({"reason":"compiler-artifact","package_id":")" + pkg + R"(","target":{"name":")" + name +
         R"(","kind":[")" + kind + R"("]},"profile":{"test":)" + (test ? "true" : "false") +
         R"(},"executable":)" + e + "}";
}

TEST(CargoMetadata, ParsesWorkspaceMembersOnly) {
  CargoWorkspace ws = parse_cargo_metadata(kMetadata);
  EXPECT_EQ(ws.workspace_root, "/ws");
  EXPECT_EQ(ws.target_directory, "/ws/target");
  ASSERT_EQ(ws.packages.size(), 1u);
  const auto& p = ws.packages[0];
  EXPECT_EQ(p.name, "foo");
  ASSERT_EQ(p.targets.size(), 4u);
  EXPECT_EQ(p.targets[1].kind, ArtifactKind::Binary);
  EXPECT_EQ(p.targets[2].kind, ArtifactKind::Test);
  EXPECT_EQ(p.targets[3].kind, ArtifactKind::Example);
  EXPECT_FALSE(p.targets[3].test);
  EXPECT_EQ(artifact_key(p.targets[0]), "foo(library)");
  EXPECT_THROW(parse_cargo_metadata("{}"), UserError);
}

TEST(CargoMetadata, DisplayNameLeavesOutThePackagesOwnTarget) {
  EXPECT_EQ(case_display_name("my-pkg", "my_pkg", "tests::a"), "my-pkg tests::a");
  EXPECT_EQ(case_display_name("my-pkg", "integration", "a"), "my-pkg integration a");
}

TEST(CargoMetadata, ErrorSummaryKeepsWhereAndWhy) {
  EXPECT_EQ(cargo_error_summary("error: could not find `Cargo.toml` in `/x` or any parent directory\n"),
            "could not find `Cargo.toml` in `/x` or any parent directory");
  EXPECT_EQ(
      cargo_error_summary("error: unclosed inline table, expected `}`\n --> Cargo.toml:6:28\n  |\n6 | foo = "
                          "{ version = 1, bogus\n  |                           ^\n"),
      "Cargo.toml:6:28: unclosed inline table, expected `}`");
  EXPECT_EQ(
      cargo_error_summary("error: failed to get `dep` as a dependency of package `p v0.1.0`\n\nCaused by:\n"
                          "  failed to load source for dependency `dep`\n\nCaused by:\n  failed to read "
                          "`/nope/Cargo.toml`\n\nCaused by:\n  No such file or directory (os error 2)\n"),
      "failed to get `dep` as a dependency of package `p v0.1.0`: failed to load source for dependency "
      "`dep`: failed to read `/nope/Cargo.toml`: No such file or directory (os error 2)");
  EXPECT_EQ(cargo_error_summary("warning: something\nerror: it broke\nerror: another\n"), "it broke");
  // The source lines cargo quotes inside a cause are left out.
  EXPECT_EQ(
      cargo_error_summary(
          "error: could not load Cargo configuration\n\nCaused by:\n  could not parse TOML "
          "configuration in `/w/.cargo/config.toml`\n\nCaused by:\n  TOML parse error at line 2, "
          "column 12\n    |\n  2 | jobs = { y\n    |            ^\n  unclosed inline table\n"),
      "could not load Cargo configuration: could not parse TOML configuration in `/w/.cargo/config.toml`: "
      "TOML parse error at line 2, column 12 unclosed inline table");
  EXPECT_EQ(cargo_error_summary("\n  odd output\n"), "odd output");
  EXPECT_EQ(cargo_error_summary(""), "no error message");
}

TEST(CargoBuild, RunsTheCargoThatRunsIt) {
  ::setenv("CARGO", "/bin/sh", 1);
  EXPECT_EQ(cargo_program(), "/bin/sh");
  EXPECT_EQ(cargo_metadata_args({})[0], "/bin/sh");
  EXPECT_EQ(cargo_test_build_args({}, {}, false)[0], "/bin/sh");
  ::setenv("CARGO", "bin/cargo", 1);  // not absolute: PATH's
  EXPECT_EQ(cargo_program(), "cargo");
  ::setenv("CARGO", "/nonexistent/cargo", 1);
  EXPECT_EQ(cargo_program(), "cargo");
  ::unsetenv("CARGO");
  EXPECT_EQ(cargo_program(), "cargo");
}

TEST(CargoBuild, ArgsPassThroughAndSelectPackages) {
  ::unsetenv("CARGO");
  CargoOptions o;
  o.features = "a,b";
  o.profile = "release";
  o.target_dir = "t";
  o.locked = true;
  CargoPackage p{"foo", "0.1.0", "id", "", {}};
  auto a = cargo_test_build_args(o, {&p}, false);
  std::vector<std::string> want = {"cargo",
                                   "test",
                                   "--no-run",
                                   "--message-format=json-render-diagnostics",
                                   "--color=never",
                                   "--features=a,b",
                                   "--profile=release",
                                   "--target-dir",
                                   "t",
                                   "--locked",
                                   "--package",
                                   "foo@0.1.0"};
  EXPECT_EQ(a, want);
  want.resize(want.size() - 2);
  want.push_back("--workspace");
  EXPECT_EQ(cargo_test_build_args(o, {}, false), want);
  auto m = cargo_metadata_args(o);
  EXPECT_EQ(m, (std::vector<std::string>{"cargo", "metadata", "--no-deps", "--format-version=1",
                                         "--features=a,b", "--locked"}));
}

TEST(CargoBuild, IntegrationTestsWaitForThePackagesBinaries) {
  CargoWorkspace ws = parse_cargo_metadata(kMetadata);
  const CargoPackage* p = &ws.packages[0];
  ArtifactCollector c({p});
  const std::string id = p->id;
  EXPECT_TRUE(c.feed(artifact(id, "int", "test", true, "/t/int-1")).empty());
  auto lib = c.feed(artifact(id, "foo", "lib", true, "/t/foo-1"));
  ASSERT_EQ(lib.size(), 1u);
  EXPECT_EQ(lib[0].executable, "/t/foo-1");
  EXPECT_EQ(lib[0].target.kind, ArtifactKind::Library);
  // The lib built without test profile is no test binary; the bin built for tests is one.
  EXPECT_TRUE(c.feed(artifact(id, "foo", "lib", false, nullptr)).empty());
  EXPECT_EQ(c.feed(artifact(id, "foo-cli", "bin", true, "/t/foo_cli-1")).size(), 1u);
  auto held = c.feed(artifact(id, "foo-cli", "bin", false, "/t/foo-cli"));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].target.name, "int");
  EXPECT_TRUE(c.finish().empty());
  // Noise and other packages are ignored; an undeclared binary is an error.
  EXPECT_TRUE(c.feed("   Compiling foo").empty());
  EXPECT_TRUE(c.feed(artifact("other", "x", "lib", true, "/x")).empty());
  EXPECT_THROW(c.feed(artifact(id, "surprise", "bin", false, "/t/s")), UserError);
}

TEST(CargoBuild, HeldTestsComeOutWhenTheBuildEnds) {
  CargoWorkspace ws = parse_cargo_metadata(kMetadata);
  ArtifactCollector c({&ws.packages[0]});
  EXPECT_TRUE(c.feed(artifact(ws.packages[0].id, "int", "test", true, "/t/int-1")).empty());
  EXPECT_EQ(c.finish().size(), 1u);
}

TEST(CargoBuild, FilterBuildOutputKeepsWarningsOnly) {
  std::string text =
      "   Compiling foo v0.1.0 (/ws/foo)\n"
      "warning: unused variable: `x`\n"
      " --> src/lib.rs:1:5\n"
      "\x1b[1m\x1b[32m    Finished\x1b[0m `test` profile\n"
      "  Executable unittests src/lib.rs (target/debug/deps/foo-1)\n";
  EXPECT_EQ(filter_build_output(text), "warning: unused variable: `x`\n --> src/lib.rs:1:5\n");
  EXPECT_EQ(filter_build_output("    Finished x\n"), "");
}

TEST(CargoCases, ParsesTerseListing) {
  EXPECT_EQ(parse_terse_list("tests::a: test\ntests::b: test\nbench_x: benchmark\n\n"),
            (std::vector<std::string>{"tests::a", "tests::b"}));
  EXPECT_TRUE(parse_terse_list("").empty());
}

TEST(CargoCases, TrimsHarnessOutput) {
  std::vector<std::string> lines = {"",
                                    "running 1 test",
                                    "own output",
                                    "test tests::x ... own weird line",
                                    "more",
                                    "test tests::x ... FAILED",
                                    "",
                                    "failures:",
                                    "test result: FAILED. 0 passed; 1 failed"};
  EXPECT_EQ(trim_harness_output("tests::x", lines),
            (std::vector<std::string>{"own output", "test tests::x ... own weird line", "more"}));
  EXPECT_EQ(trim_harness_output("t", {"plain"}), (std::vector<std::string>{"plain"}));
}

TEST(CargoCases, ListingFailureIsAUserError) {
  EXPECT_THROW(list_test_binary("/bin/false", "/"), UserError);
  EXPECT_THROW(list_test_binary("/nonexistent/test-binary", "/"), UserError);
  try {
    list_test_binary("/bin/false", "/");
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "test binary /bin/false: listing its tests failed: exited with code 1");
  }
}

TEST(CargoCases, ListsCasesAndIgnoredOnes) {
  // A stand-in test binary: a script answering both listings as a Rust harness would.
  auto dir = std::filesystem::temp_directory_path() / ("mael-cases-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto bin = dir / "fake-test";
  {
    std::ofstream f(bin);
    f << "#!/bin/sh\n"
         "if [ \"$4\" = --ignored ]; then echo 'slow: test'; exit 0; fi\n"
         "printf 'fast: test\\nslow: test\\nbench_x: benchmark\\n'\n";
  }
  std::filesystem::permissions(bin, std::filesystem::perms::owner_all);
  ListedCases c = list_test_binary(bin, dir);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(c.cases, (std::vector<std::string>{"fast", "slow"}));
  EXPECT_EQ(c.ignored, (std::vector<std::string>{"slow"}));
}

}  // namespace
}  // namespace mael
