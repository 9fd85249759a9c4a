#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_signature.h"
#include "base/test_temp_dir.h"
#include "gotest/go_build.h"
#include "gotest/go_cases.h"
#include "gotest/go_inputs.h"
#include "gotest/go_packages.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

GoPackage package_named(const std::string& import_path, bool has_tests = true) {
  GoPackage p;
  p.import_path = import_path;
  p.name = import_path.substr(import_path.rfind('/') + 1);
  p.has_tests = has_tests;
  return p;
}

TEST(GoBuild, BinariesWhoseNamesCollideGoToFurtherGroups) {
  std::vector<GoPackage> pkgs = {package_named("m/a"),          package_named("m/internal/language"),
                                 package_named("m/doc", false), package_named("m/language"),
                                 package_named("m/x/a/v2"),     package_named("m/y/language")};
  // "m/x/a/v2" is named a.test like "m/a"; the third language.test needs a third group.
  std::vector<size_t> want = {0, 0, SIZE_MAX, 1, 1, 2};
  EXPECT_EQ(go_binary_groups(pkgs), want);
  // A package keeps its group whatever comes after it.
  pkgs.push_back(package_named("m/z/a"));
  want.push_back(2);
  EXPECT_EQ(go_binary_groups(pkgs), want);
}

TEST(GoBuild, TheFailedPackageIsTheFirstOfTheCommandNamedInAHeader) {
  std::set<std::string> mine = {"ex.com/m/b", "ex.com/m/c"};
  // A compile error, then vet's form of the header.
  std::string compile = "# ex.com/m/b [ex.com/m/b.test]\nb/b_test.go:3:27: undefined: x\n";
  EXPECT_EQ(failed_go_package(compile, mine), "ex.com/m/b");
  std::string vet = "# ex.com/m/c\n# [ex.com/m/c]\nc/c_test.go:3:35: wrong type\n";
  EXPECT_EQ(failed_go_package(vet, mine), "ex.com/m/c");
  // A dependency outside the command is not one of its packages; the one after it is.
  std::string dep = "# ex.com/m/lib\nlib/lib.go:1:1: x\n# ex.com/m/c [ex.com/m/c.test]\n";
  EXPECT_EQ(failed_go_package(dep, mine), "ex.com/m/c");
  EXPECT_EQ(failed_go_package("go: updates to go.mod needed\n", mine), std::nullopt);
  EXPECT_EQ(failed_go_package("#ex.com/m/b\n", mine), std::nullopt);
}

TEST(GoInputs, ALocalReplaceIsSeen) {
  EXPECT_FALSE(go_mod_replaces_with_directory("module m\n\nrequire x.org/y v1.0.0\n"));
  EXPECT_FALSE(go_mod_replaces_with_directory("replace x.org/y => x.org/z v1.2.0 // not ../local\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace x.org/y => ../y\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace (\n\tx.org/y v1.0.0 => ./vendored/y\n)\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace x.org/y =>/abs/y\n"));
}

TEST(GoInputs, TheFingerprintFollowsTheModuleAndWhatGoReads) {
  testing::ScratchDir d;
  d.write("m/go.mod", "module example.com/m\n");
  d.write("m/a/a_test.go", "package a\n");
  fs::path root = d / "m";
  std::vector<std::string> env = {"PATH=/nonexistent", "HOME=" + d.str(), "GOWORK=off", "UNRELATED=1"};
  GoInputs first = scan_go_inputs(root, env, "unset");
  ASSERT_FALSE(first.fingerprint.empty());
  EXPECT_EQ(scan_go_inputs(root, env, "unset").fingerprint, first.fingerprint);
  // Not: our own state, variables go does not read.
  d.write("m/.maelstrom-go-test/state/x", "1");
  std::vector<std::string> other = env;
  other.back() = "UNRELATED=2";
  EXPECT_EQ(scan_go_inputs(root, other, "unset").fingerprint, first.fingerprint);
  // But: a variable go reads, the vet setting, a file's change, a new file or directory.
  other.push_back("GOFLAGS=-tags=x");
  EXPECT_NE(scan_go_inputs(root, other, "unset").fingerprint, first.fingerprint);
  EXPECT_NE(scan_go_inputs(root, env, "=off").fingerprint, first.fingerprint);
  d.write("m/a/a_test.go", "package a // edited\n");
  GoInputs edited = scan_go_inputs(root, env, "unset");
  EXPECT_NE(edited.fingerprint, first.fingerprint);
  fs::create_directories(root / "b");
  EXPECT_NE(scan_go_inputs(root, env, "unset").fingerprint, edited.fingerprint);
  // A workspace, or a nested module's files, which are not this module's.
  GoInputs before_nested = scan_go_inputs(root, env, "unset");
  d.write("m/b/go.mod", "module example.com/b\n");
  d.write("m/b/b.go", "package b\n");
  EXPECT_NE(scan_go_inputs(root, env, "unset").fingerprint, before_nested.fingerprint);  // b/ is gone
  GoInputs nested = scan_go_inputs(root, env, "unset");
  d.write("m/b/b.go", "package b // edited\n");
  EXPECT_EQ(scan_go_inputs(root, env, "unset").fingerprint, nested.fingerprint);
  std::vector<std::string> workspace = env;
  workspace[2] = "GOWORK=" + d.str() + "/go.work";
  EXPECT_EQ(scan_go_inputs(root, workspace, "unset").fingerprint, "");
  workspace.erase(workspace.begin() + 2);
  EXPECT_FALSE(scan_go_inputs(root, workspace, "unset").fingerprint.empty());
  d.write("go.work", "go 1.21\nuse ./m\n");
  EXPECT_EQ(scan_go_inputs(root, workspace, "unset").fingerprint, "");
}

TEST(GoInputs, ARecordIsTrustedForTheSameInputsOnlyWhenTheyWereOldEnough) {
  testing::ScratchDir d;
  d.write("m/go.mod", "module example.com/m\n");
  fs::path root = d / "m";
  fs::path binary = d.write("bin/a.test", "binary");
  std::vector<std::string> env = {"GOWORK=off"};
  GoInputs inputs = scan_go_inputs(root, env, "unset");
  fs::path record = d / "state/go-build.json";
  save_go_last_check(record, inputs, "{\"ImportPath\": \"example.com/m\"}", {{"example.com/m", binary}});
  // Just written: the module's files changed less than 2 s before.
  EXPECT_EQ(load_go_last_check(record, inputs, kRacyFileChangeNs), std::nullopt);
  auto last = load_go_last_check(record, inputs, 0);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->go_list, "{\"ImportPath\": \"example.com/m\"}");
  EXPECT_EQ(last->binaries.at("example.com/m"), file_signature(binary));
  GoInputs other = inputs;
  other.fingerprint[0] = other.fingerprint[0] == '0' ? '1' : '0';
  EXPECT_EQ(load_go_last_check(record, other, 0), std::nullopt);
  // Inputs that cannot be fingerprinted remove the record.
  save_go_last_check(record, GoInputs{}, "", {});
  EXPECT_FALSE(fs::exists(record));
  testing::ScratchDir e;
  e.write("go.mod", "module example.com/m\n");
  std::ofstream(record) << "not json";
  EXPECT_EQ(load_go_last_check(record, scan_go_inputs(e.path(), env, "unset"), 0), std::nullopt);
}

TEST(GoList, ParsesTheStreamOfPackages) {
  // Two objects as `go list -json` prints them (abridged), one without tests.
  std::string out = R"({
	"Dir": "/m",
	"ImportPath": "example.com/m",
	"Name": "m",
	"TestGoFiles": ["m_test.go"]
}
{
	"Dir": "/m/pkg/b/v2",
	"ImportPath": "example.com/m/pkg/b/v2",
	"Name": "b",
	"GoFiles": ["b.go"],
	"Module": {"Path": "example.com/m", "Dir": "/m"}
}
{
	"Dir": "/m/x",
	"ImportPath": "example.com/m/x",
	"Name": "x_pkg",
	"XTestGoFiles": ["x_test.go"]
}
)";
  auto pkgs = parse_go_list(out, "/m");
  ASSERT_EQ(pkgs.size(), 3u);
  EXPECT_EQ(pkgs[0].import_path, "example.com/m");
  EXPECT_EQ(pkgs[0].path, "");  // the module's root package
  EXPECT_TRUE(pkgs[0].has_tests);
  EXPECT_EQ(pkgs[1].path, "pkg/b/v2");
  EXPECT_EQ(pkgs[1].name, "b");
  EXPECT_FALSE(pkgs[1].has_tests);
  EXPECT_TRUE(pkgs[2].has_tests);  // external tests count

  // Binary names as Maelstrom's: the last element, skipping a major version suffix.
  EXPECT_EQ(go_test_binary_path("/bins", pkgs[0]), fs::path("/bins/m.test"));
  EXPECT_EQ(go_test_binary_path("/bins", pkgs[1]), fs::path("/bins/pkg/b/v2/b.test"));
  EXPECT_EQ(go_test_binary_path("/bins", pkgs[2]), fs::path("/bins/x/x.test"));

  // go spells Dir and Root through the user's $PWD, which may be a symlink to the root found.
  auto linked = parse_go_list(R"({"Dir": "/link/pkg", "ImportPath": "example.com/m/pkg", "Name": "pkg", "Root": "/link"})",
                              "/real/m");
  ASSERT_EQ(linked.size(), 1u);
  EXPECT_EQ(linked[0].path, "pkg");
  EXPECT_THROW(parse_go_list(R"({"Dir": "/elsewhere", "ImportPath": "e", "Name": "e", "Root": "/link"})", "/real/m"),
               UserError);

  EXPECT_THROW(parse_go_list("{\"Dir\": ", "/m"), UserError);
  EXPECT_THROW(parse_go_list("[1]", "/m"), UserError);
  EXPECT_THROW(parse_go_list("{\"Name\": \"x\"}", "/m"), UserError);
  EXPECT_TRUE(parse_go_list("\n", "/m").empty());
}

TEST(GoList, TheModuleRootIsTheNearestGoModAbove) {
  fs::path dir = fs::temp_directory_path() / ("mael-gomod-" + std::to_string(getpid()));
  fs::create_directories(dir / "a" / "b");
  std::ofstream(dir / "go.mod") << "module example.com/m\n";
  EXPECT_EQ(find_go_module_root(dir / "a" / "b"), fs::canonical(dir));
  std::ofstream(dir / "a" / "go.mod") << "module example.com/m/a\n";
  EXPECT_EQ(find_go_module_root(dir / "a" / "b"), fs::canonical(dir / "a"));
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    find_go_module_root(dir);
    ADD_FAILURE() << "no go.mod must throw";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no go.mod in " + fs::canonical(dir).string()), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(GoCases, ListingKeepsTopLevelTestsExamplesAndFuzzTargets) {
  // What a TestMain printed, a benchmark and blank lines are not tests.
  EXPECT_EQ(parse_go_test_list("TestMain ran\nTestA\nTestB\nBenchmarkX\nFuzzY\nExampleZ\n\n"),
            (Lines{"TestA", "TestB", "FuzzY", "ExampleZ"}));
  EXPECT_EQ(parse_go_test_list("ok  \texample.com/m\nTest_Under\n"), Lines{"Test_Under"});
}

TEST(GoCases, ArgumentsAnchorTheCaseAndPassTheFlags) {
  GoTestFlags f;
  f.short_mode = true;
  f.extra = {"-test.parallel", "3"};
  EXPECT_EQ(go_test_arguments("TestA", f),
            (Lines{"-test.run", "^TestA$", "-test.timeout=0", "-test.v", "-test.paniconexit0", "-test.short=true",
                   "-test.fullpath=false", "-test.parallel", "3"}));
}

TEST(GoCases, ASkipIsTheCasesOwnSkipLineBeforePass) {
  EXPECT_TRUE(go_test_skipped("TestS", "=== RUN   TestS\n    s_test.go:5: why\n--- SKIP: TestS (0.00s)\nPASS\n\n"));
  EXPECT_FALSE(go_test_skipped("TestS", "=== RUN   TestS\n--- PASS: TestS (0.00s)\nPASS\n"));
  // Only its subtests skipped: the test passed.
  EXPECT_FALSE(go_test_skipped("TestS", "    --- SKIP: TestS/sub (0.00s)\n--- PASS: TestS (0.00s)\nPASS\n"));
  // Another test's name that starts alike is not this one's skip.
  EXPECT_FALSE(go_test_skipped("TestS", "--- SKIP: TestSlow (0.00s)\nPASS\n"));
}

TEST(GoCases, FailureOutputLosesTheHarnessLines) {
  Lines test = {"TestMain says hi", "=== RUN   TestA", "    a_test.go:9: expected 3, got 4",
                "--- FAIL: TestA (0.00s)", "FAIL"};
  EXPECT_EQ(trim_go_test_output("TestA", test), (Lines{"    a_test.go:9: expected 3, got 4"}));
  Lines example = {"=== RUN   ExampleE", "--- FAIL: ExampleE (0.00s)", "got:", "hi", "want:", "hello", "FAIL"};
  EXPECT_EQ(trim_go_test_output("ExampleE", example), (Lines{"got:", "hi", "want:", "hello"}));
  Lines fuzz = {"=== RUN   FuzzF", "=== RUN   FuzzF/seed#0", "    f_test.go:3: bad", "--- FAIL: FuzzF (0.00s)",
                "FAIL"};
  EXPECT_EQ(trim_go_test_output("FuzzF", fuzz), (Lines{"=== RUN   FuzzF", "=== RUN   FuzzF/seed#0",
                                                       "    f_test.go:3: bad", "--- FAIL: FuzzF (0.00s)"}));
  // A crash leaves no FAIL line of the case's own: everything after the RUN line stays.
  Lines panic = {"=== RUN   TestP", "panic: boom", "exit status 2"};
  EXPECT_EQ(trim_go_test_output("TestP", panic), (Lines{"panic: boom", "exit status 2"}));
}

}  // namespace
}  // namespace mael
