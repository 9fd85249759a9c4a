#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/subprocess.h"
#include "base/test_temp_dir.h"
#include "pytest/pytest_collect.h"
#include "pytest/pytest_outcome.h"
#include "pytest/python_layers.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

TEST(PytestOutcome, PassedAndFailedRan) {
  EXPECT_FALSE(pytest_skip_reason("x PASSED\n============ 1 passed in 0.01s ============\n"));
  EXPECT_FALSE(pytest_skip_reason("=========== 1 passed, 2 warnings in 0.01s ===========\n"));
  EXPECT_FALSE(pytest_skip_reason("=========== 1 xpassed in 0.01s ===========\n"));
  EXPECT_FALSE(pytest_skip_reason("=========== 1 failed in 0.01s ===========\n"));
  EXPECT_FALSE(pytest_skip_reason("no summary at all\n"));
  EXPECT_FALSE(pytest_skip_reason(""));
}

TEST(PytestOutcome, SkippedWithPytestsReason) {
  std::string out =
      "t.py::test_x SKIPPED (needs a GPU)\n"
      "=========================== short test summary info ============================\n"
      "SKIPPED [1] tests/t.py:12: needs a GPU\n"
      "============================== 1 skipped in 0.01s ==============================\n";
  EXPECT_EQ(pytest_skip_reason(out), "skipped: needs a GPU");
  EXPECT_EQ(pytest_skip_reason("===== 1 skipped, 1 warning in 2.50s (0:00:02) =====\n"), "skipped");
}

TEST(PytestOutcome, XfailedWithReason) {
  std::string out =
      "XFAIL tests/t.py::test_x - known bug 12\n"
      "============================== 1 xfailed in 0.03s ==============================\n";
  EXPECT_EQ(pytest_skip_reason(out), "xfailed: known bug 12");
  EXPECT_EQ(pytest_skip_reason("XFAIL tests/t.py::test_x\n=== 1 xfailed in 0.03s ===\n"), "xfailed");
}

TEST(PytestOutcome, TheLastSummaryLineCounts) {
  // A test printing a summary-like line of its own does not decide: the last one does.
  EXPECT_FALSE(pytest_skip_reason("=== 1 skipped in 0.01s ===\n=== 1 passed in 0.02s ===\n"));
}

TEST(PytestArguments, RunExactlyTheItemWithExtraArgs) {
  PytestRunFlags f{{"-W", "error"}, {"--tb=short"}};
  std::vector<std::string> args = pytest_test_arguments("tests/t.py", "TestC::test_m[a b]", f);
  ASSERT_GE(args.size(), 4u);
  EXPECT_EQ(args[0], "-m");
  EXPECT_EQ(args[1], "pytest");
  EXPECT_EQ(args.back(), "tests/t.py::TestC::test_m[a b]");
  auto w = std::find(args.begin(), args.end(), "-W");
  auto tb = std::find(args.begin(), args.end(), "--tb=short");
  ASSERT_NE(w, args.end());
  ASSERT_NE(tb, args.end());
  EXPECT_LT(w, tb);  // extra-pytest-args, then extra-pytest-test-args
  EXPECT_EQ(pytest_test_arguments("t.py", "", {}).back(), "t.py");
}

TEST(PytestCollect, ParsesTheScriptsLines) {
  std::string text =
      R"({"file": "t.py", "name": "test_p[a b]", "node_id": "t.py::test_p[a b]", "inner": "test_p[a b]", "markers": ["slow", "parametrize"], "skip": null})"
      "\n"
      R"({"file": "t.py", "name": "test_s", "node_id": "t.py::test_s", "inner": "test_s", "markers": ["skip"], "skip": "why"})"
      "\n";
  std::vector<PytestItem> items = parse_collection(text, "out");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].name, "test_p[a b]");
  EXPECT_EQ(items[0].markers, (std::vector<std::string>{"slow", "parametrize"}));
  EXPECT_FALSE(items[0].skip);
  EXPECT_EQ(items[1].skip, "why");
}

TEST(PytestCollect, BadLinesAreOneLineErrors) {
  EXPECT_THROW(parse_collection("not json\n", "out"), UserError);
  EXPECT_THROW(parse_collection(R"({"file": "t.py"})", "out"), UserError);  // no name
  try {
    parse_collection("[1]\n", "pytest collection output");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("pytest collection output"), std::string::npos);
  }
}

// The job's output as Python's gzip and base64 make it, decoded; cut short, an error.
TEST(PytestCollect, DecodesWhatPythonEncodedAndRefusesItCut) {
  ProcessResult r = run_process(
      {"python3", "-c",
       "import base64, gzip, sys; sys.stdout.buffer.write(base64.b64encode(gzip.compress(('x' * 5000 + '\\n').encode(), 6)))"});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_LT(r.out.size(), 200u);
  EXPECT_EQ(decode_collection_output(r.out), std::string(5000, 'x') + "\n");
  EXPECT_EQ(decode_collection_output(""), "");  // nothing collected
  EXPECT_THROW(decode_collection_output(r.out.substr(0, r.out.size() / 2)), UserError);
  EXPECT_THROW(decode_collection_output("not base64 of gzip"), UserError);
}

TEST(PytestCollect, ProbesTheInterpreterOnPath) {
  std::string line =
      R"({"python": {"executable": "/v/bin/python3", "prefix": "/v", "base_prefix": "/usr", "stdlib": "/usr/lib/python3.11", "path": ["/v/lib/site"], "version": "3.11.2"}})"
      "\n";
  PythonInfo py = parse_python_probe(line, "probe");
  EXPECT_EQ(py.executable, "/v/bin/python3");
  EXPECT_EQ(py.path, std::vector<std::string>{"/v/lib/site"});
  EXPECT_THROW(parse_python_probe(R"({"file": "t.py"})", "probe"), UserError);
  try {
    probe_python(".", "no-such-python-here");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("not on PATH"), std::string::npos);
  }
}

TEST(PythonLayers, InterpreterStdlibAndPathWithoutTheProjectOrUnlistedSitePackages) {
  testing::ScratchDir tmp;
  fs::path root = tmp.path();
  auto touch = [](const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
  };
  touch(root / "base/bin/python3.11");
  fs::create_directories(root / "venv/bin");
  fs::create_symlink(root / "base/bin/python3.11", root / "venv/bin/python3");
  touch(root / "venv/pyvenv.cfg");
  touch(root / "base/lib/os.py");
  touch(root / "base/lib/json/__init__.py");
  touch(root / "base/lib/test/test_big.py");           // the stdlib's own tests: left out
  touch(root / "base/lib/site-packages/other.py");     // not on sys.path: left out
  touch(root / "venv/lib/site-packages/pytest.py");
  touch(root / "proj/t.py");
  PythonInfo py;
  py.executable = (root / "venv/bin/python3").string();
  py.prefix = (root / "venv").string();
  py.base_prefix = (root / "base").string();
  py.stdlib = (root / "base/lib").string();
  py.path = {(root / "base/lib").string(), (root / "venv/lib/site-packages").string()};
  PythonLayers l = host_python_layers(py, root / "proj");
  EXPECT_EQ(l.program, py.executable);
  ASSERT_FALSE(l.layers.empty());
  const auto& paths = std::get<PathsLayer>(l.layers[0]).paths;
  auto has = [&](const fs::path& p) { return std::find(paths.begin(), paths.end(), p.string()) != paths.end(); };
  EXPECT_TRUE(has(root / "venv/bin/python3"));
  EXPECT_TRUE(has(root / "base/bin/python3.11"));  // the symlink's target
  EXPECT_TRUE(has(root / "venv/pyvenv.cfg"));
  EXPECT_TRUE(has(root / "base/lib/os.py"));
  EXPECT_TRUE(has(root / "base/lib/json/__init__.py"));
  EXPECT_TRUE(has(root / "venv/lib/site-packages/pytest.py"));
  EXPECT_FALSE(has(root / "base/lib/test/test_big.py"));
  EXPECT_FALSE(has(root / "base/lib/site-packages/other.py"));
  EXPECT_FALSE(has(root / "proj/t.py"));
}

}  // namespace
}  // namespace mael
