#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/config.h"
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

TEST(GoBuild, TheFailedPackagesAreThoseOfTheCommandNamedInHeaders) {
  using Named = std::vector<std::string>;
  std::set<std::string> mine = {"ex.com/m/b", "ex.com/m/c", "ex.com/xt/p"};
  // A compile error, then vet's form of the header.
  std::string compile = "# ex.com/m/b [ex.com/m/b.test]\nb/b_test.go:3:27: undefined: x\n";
  EXPECT_EQ(failed_go_packages(compile, mine), Named{"ex.com/m/b"});
  std::string vet = "# ex.com/m/c\n# [ex.com/m/c]\nc/c_test.go:3:35: wrong type\n";
  EXPECT_EQ(failed_go_packages(vet, mine), Named{"ex.com/m/c"});
  // An external test package is its package's.
  EXPECT_EQ(failed_go_packages("# ex.com/xt/p_test [ex.com/xt/p.test]\np/x_test.go:1: y\n", mine),
            Named{"ex.com/xt/p"});
  EXPECT_EQ(failed_go_packages("# ex.com/xt/p_test\n# [ex.com/xt/p_test]\np/x_test.go:1: y\n", mine),
            Named{"ex.com/xt/p"});
  // A dependency outside the command is not one of its packages; the one after it is.
  std::string dep = "# ex.com/m/lib\nlib/lib.go:1:1: x\n# ex.com/m/c [ex.com/m/c.test]\n# ex.com/m/b\n";
  EXPECT_EQ(failed_go_packages(dep, mine), (Named{"ex.com/m/c", "ex.com/m/b"}));
  EXPECT_EQ(failed_go_packages("go: updates to go.mod needed\n", mine), Named{});
  EXPECT_EQ(failed_go_packages("#ex.com/m/b\n", mine), Named{});
}

TEST(GoBuild, BinaryNamesFollowGoForTheFilesGoWrites) {
  // go skips a version element only from v2 on; Maelstrom's mirror path skips any ^v[0-9]*$.
  EXPECT_EQ(go_built_binary_name(package_named("m/api/v1")), "v1.test");
  EXPECT_EQ(go_test_binary_name(package_named("m/api/v1")), "api.test");
  EXPECT_EQ(go_built_binary_name(package_named("m/api/v0")), "v0.test");
  EXPECT_EQ(go_built_binary_name(package_named("m/api/v")), "v.test");
  EXPECT_EQ(go_built_binary_name(package_named("m/api/v2")), "api.test");
  EXPECT_EQ(go_built_binary_name(package_named("m/api/v10")), "api.test");
  EXPECT_EQ(go_built_binary_name(package_named("m/api/v01")), "v01.test");
  EXPECT_EQ(go_built_binary_name(package_named("m")), "m.test");
  // Two v1 packages collide for go.
  std::vector<GoPackage> pkgs = {package_named("m/a/v1"), package_named("m/c/v1"), package_named("m/a")};
  EXPECT_EQ(go_binary_groups(pkgs), (std::vector<size_t>{0, 1, 0}));
}

TEST(GoInputs, ALocalReplaceIsSeen) {
  EXPECT_FALSE(go_mod_replaces_with_directory("module m\n\nrequire x.org/y v1.0.0\n"));
  EXPECT_FALSE(go_mod_replaces_with_directory("replace x.org/y => x.org/z v1.2.0 // not ../local\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace x.org/y => ../y\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace (\n\tx.org/y v1.0.0 => ./vendored/y\n)\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace x.org/y =>/abs/y\n"));
  EXPECT_TRUE(go_mod_replaces_with_directory("replace x.org/y => \"../y\"\n"));
}

// Sets an environment variable for the scope (go env reads the process's).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(GoInputs, TheFingerprintFollowsTheModuleAndWhatGoReads) {
  testing::ScratchDir d;
  d.write("m/go.mod", "module example.com/m\n");
  d.write("m/a/a_test.go", "package a\n");
  fs::path root = d / "m";
  ScopedEnv no_workspace("GOWORK", "");
  ScopedEnv no_flags("GOFLAGS", "");
  GoInputs first = scan_go_inputs(root, environment_map(), "unset");
  ASSERT_FALSE(first.fingerprint.empty());
  EXPECT_EQ(scan_go_inputs(root, environment_map(), "unset").fingerprint, first.fingerprint);
  // Not: our own state, variables go does not read.
  d.write("m/.maelstrom-go-test/state/x", "1");
  {
    ScopedEnv unrelated("MAEL_UNRELATED", "2");
    EXPECT_EQ(scan_go_inputs(root, environment_map(), "unset").fingerprint, first.fingerprint);
  }
  // But: a setting go reads, the vet setting, a file's change, a new file or directory.
  {
    ScopedEnv tags("GOFLAGS", "-tags=x");
    EXPECT_NE(scan_go_inputs(root, environment_map(), "unset").fingerprint, first.fingerprint);
  }
  EXPECT_NE(scan_go_inputs(root, environment_map(), "=off").fingerprint, first.fingerprint);
  d.write("m/a/a_test.go", "package a // edited\n");
  GoInputs edited = scan_go_inputs(root, environment_map(), "unset");
  EXPECT_NE(edited.fingerprint, first.fingerprint);
  fs::create_directories(root / "b");
  EXPECT_NE(scan_go_inputs(root, environment_map(), "unset").fingerprint, edited.fingerprint);
  // A nested module's files are not this module's; a vendored module's are.
  GoInputs before_nested = scan_go_inputs(root, environment_map(), "unset");
  d.write("m/b/go.mod", "module example.com/b\n");
  d.write("m/b/b.go", "package b\n");
  EXPECT_NE(scan_go_inputs(root, environment_map(), "unset").fingerprint, before_nested.fingerprint);  // b/ is gone
  GoInputs nested = scan_go_inputs(root, environment_map(), "unset");
  d.write("m/b/b.go", "package b // edited\n");
  EXPECT_EQ(scan_go_inputs(root, environment_map(), "unset").fingerprint, nested.fingerprint);
  d.write("m/vendor/x.org/dep/go.mod", "module x.org/dep\n");
  d.write("m/vendor/x.org/dep/dep.go", "package dep\n");
  GoInputs vendored = scan_go_inputs(root, environment_map(), "unset");
  d.write("m/vendor/x.org/dep/dep.go", "package dep // edited\n");
  EXPECT_NE(scan_go_inputs(root, environment_map(), "unset").fingerprint, vendored.fingerprint);
  // The same files elsewhere (a moved module) are another build.
  fs::copy(root, d / "moved", fs::copy_options::recursive);
  EXPECT_NE(scan_go_inputs(d / "moved", environment_map(), "unset").fingerprint,
            scan_go_inputs(root, environment_map(), "unset").fingerprint);
  // Never fingerprinted: files named by GOFLAGS, a workspace (from the environment, or a
  // go.work above the module, as go finds it).
  {
    ScopedEnv overlay("GOFLAGS", "-overlay=" + d.str() + "/overlay.json");
    EXPECT_EQ(scan_go_inputs(root, environment_map(), "unset").fingerprint, "");
  }
  {
    ScopedEnv pgo_off("GOFLAGS", "-pgo=off");
    EXPECT_FALSE(scan_go_inputs(root, environment_map(), "unset").fingerprint.empty());
  }
  d.write("go.work", "go 1.21\nuse ./m\n");
  EXPECT_EQ(scan_go_inputs(root, environment_map(), "unset").fingerprint, "");
  {
    ScopedEnv off("GOWORK", "off");
    EXPECT_FALSE(scan_go_inputs(root, environment_map(), "unset").fingerprint.empty());
  }
}

TEST(GoInputs, ARecordIsTrustedForTheSameInputsOnlyWhenTheyWereOldEnough) {
  testing::ScratchDir d;
  d.write("m/go.mod", "module example.com/m\n");
  fs::path root = d / "m";
  fs::path binary = d.write("bin/a.test", "binary");
  ScopedEnv no_workspace("GOWORK", "");
  GoInputs inputs = scan_go_inputs(root, environment_map(), "unset");
  ASSERT_FALSE(inputs.fingerprint.empty());
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
  // The margin counts from the scan, not from the record's writing: a file whose time is after
  // the scan (changed while go built) is not trusted however late the record is written.
  fs::path later = d.write("m/later.go", "package m\n");
  timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) + 1, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, later.c_str(), times, 0), 0);
  GoInputs racy = scan_go_inputs(root, environment_map(), "unset");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  save_go_last_check(record, racy, "", {});
  EXPECT_EQ(load_go_last_check(record, racy, 0), std::nullopt);
  // Inputs that cannot be fingerprinted remove the record.
  save_go_last_check(record, GoInputs{}, "", {});
  EXPECT_FALSE(fs::exists(record));
  testing::ScratchDir e;
  e.write("go.mod", "module example.com/m\n");
  std::ofstream(record) << "not json";
  EXPECT_EQ(load_go_last_check(record, scan_go_inputs(e.path(), environment_map(), "unset"), 0), std::nullopt);
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
