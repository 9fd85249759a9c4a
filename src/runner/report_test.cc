#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/subprocess.h"
#include "runner/report_junit.h"
#include "runner/report_result.h"
#include "runner/report_summary.h"

namespace mael {
namespace {

using std::chrono::milliseconds;

JobOutcome exited(int code, std::string out = "", std::string err = "", uint64_t truncated = 0) {
  JobOutcome o;
  o.result = Exited{code};
  o.effects.stdout_.first = std::move(out);
  o.effects.stdout_.truncated = truncated;
  o.effects.stderr_.first = std::move(err);
  o.effects.duration = milliseconds(1234);
  return o;
}

TEST(Summary, MaelstromLayout) {
  TestSummary s;
  s.succeeded = 5;
  s.failed = {"pkg test_a", "pkg b"};
  std::vector<std::string> expected = {
      "",
      "================================= Test Summary =================================",
      "Successful Tests:         5",
      "Failed Tests    :         2",
      "    pkg test_a: failure",
      "    pkg b     : failure",
  };
  EXPECT_EQ(summary_lines(s), expected);

  s.ignored = {"pkg c"};
  s.not_run = NotRunEstimate{NotRunEstimate::Kind::About, 3};
  expected.push_back("Ignored Tests   :         1");
  expected.push_back("    pkg c: ignored");
  expected.push_back("Tests Not Run   :        ~3");
  EXPECT_EQ(summary_lines(s), expected);
}

TEST(Summary, WidthAndNotRunForms) {
  TestSummary s;
  EXPECT_EQ(summary_lines(s, 30)[1], "======== Test Summary ========");
  EXPECT_EQ(summary_lines(s, 31)[1], "======== Test Summary ========");
  // Without ignored or not-run tests, the first column fits "Successful Tests".
  EXPECT_EQ(summary_lines(s)[3], "Failed Tests    :         0");
  EXPECT_EQ((NotRunEstimate{NotRunEstimate::Kind::Exactly, 4}).to_string(), "4");
  EXPECT_EQ((NotRunEstimate{NotRunEstimate::Kind::GreaterThan, 4}).to_string(), ">4");
  EXPECT_EQ((NotRunEstimate{NotRunEstimate::Kind::Unknown, 0}).to_string(), "unknown number of");
  s.not_run = NotRunEstimate{NotRunEstimate::Kind::Unknown, 0};
  EXPECT_EQ(summary_lines(s).back(), "Tests Not Run   : unknown number of");
  s.failed = {"x"};
  std::vector<std::string> colored = summary_lines(s, 80, true);
  EXPECT_EQ(colored[2], "\x1b[32mSuccessful Tests\x1b[0m:         0");
  EXPECT_EQ(colored[3], "\x1b[31mFailed Tests    \x1b[0m:         1");
  EXPECT_EQ(colored[4], "    x: \x1b[31mfailure\x1b[0m");
}

TEST(StatusLine, SimpleUiLayout) {
  TestResult r = test_result_from_outcome("pkg tests::ok", exited(0), 1);
  std::string line = status_line(r, 80, false);
  EXPECT_EQ(line.size(), 80u);
  EXPECT_EQ(line, "pkg tests::ok" + std::string(80 - 13 - 11, '.') + "OK   1.234s");
  TestResult ig = ignored_result("pkg slow");
  EXPECT_EQ(status_line(ig, 40, false), "pkg slow" + std::string(40 - 8 - 16, '.') + "IGNORED         ");
  EXPECT_EQ(status_line(r, 10, false), "pkg tests::ok OK");
  EXPECT_EQ(status_line(r, 30, true),
            "\x1b[1mpkg tests::ok\x1b[0m" + std::string(30 - 13 - 11, '.') + "\x1b[32mOK\x1b[0m   1.234s");
}

TEST(StatusLine, LongNamesAreCutFromTheStart) {
  TestResult r = test_result_from_outcome(std::string(50, 'a') + "xyz", exited(1), 1);
  std::string line = status_line(r, 30, false);  // trailer "FAIL   1.234s" is 13 wide
  EXPECT_EQ(line, "<" + std::string(12, 'a') + "xyz" + "." + "FAIL   1.234s");
  EXPECT_EQ(line.size(), 30u);
  // Multi-byte names are cut on code point boundaries.
  TestResult u = test_result_from_outcome(
      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
      exited(0), 1);
  std::string uline = status_line(u, 20, false);
  EXPECT_EQ(text_width(uline), 20u);
  EXPECT_EQ(uline.substr(0, 3), "<\xc3\xa9");
  // Wide characters take two columns: the line still fits, the dots make up the rest.
  TestResult wide = test_result_from_outcome("pkg \xe6\xb5\x8b\xe8\xaf\x95", exited(0), 1);  // 测试
  std::string wline = status_line(wide, 40, false);
  EXPECT_EQ(text_width(wline), 40u);
  EXPECT_EQ(wline, "pkg \xe6\xb5\x8b\xe8\xaf\x95" + std::string(40 - 8 - 11, '.') + "OK   1.234s");
  TestResult long_wide =
      test_result_from_outcome(std::string(30, 'x') + "\xe6\xb5\x8b\xe8\xaf\x95", exited(0), 1);
  EXPECT_EQ(text_width(status_line(long_wide, 20, false)), 20u);
}

TEST(Results, FromOutcomes) {
  TestResult fail = test_result_from_outcome("t", exited(3, "a\nb\n", "e\n", 10), 7);
  EXPECT_EQ(fail.status, TestStatus::Failure);
  EXPECT_EQ(fail.exit_code, 3);
  EXPECT_EQ(fail.reason, "exited with code 3");
  EXPECT_EQ(fail.stdout_lines,
            (std::vector<std::string>{"a", "b", "job 7: stdout truncated, 10 bytes lost"}));
  EXPECT_EQ(fail.stderr_lines, std::vector<std::string>{"e"});
  std::vector<std::string> out;
  format_result(fail, 40, false, out);
  // Maelstrom's layout: everything on stdout, each stderr line marked (empty ones left out).
  EXPECT_EQ(out, (std::vector<std::string>{status_line(fail, 40, false), "a", "b",
                                           "job 7: stdout truncated, 10 bytes lost", "stderr: e"}));
  fail.stderr_lines = {"x", "", "y"};
  out.clear();
  format_result(fail, 40, true, out);
  EXPECT_EQ(out.back(), "\x1b[31mstderr:\x1b[0m y");
  EXPECT_EQ(out[out.size() - 2], "\x1b[31mstderr:\x1b[0m x");

  TestResult ok = test_result_from_outcome("t", exited(0, "noise"), 1);
  EXPECT_EQ(ok.status, TestStatus::Ok);
  EXPECT_TRUE(ok.stdout_lines.empty());  // output is only kept for failures

  JobOutcome sig = exited(0, "x");
  sig.result = Signaled{9};
  TestResult s = test_result_from_outcome("t", sig, 1);
  EXPECT_EQ(s.status, TestStatus::Failure);
  EXPECT_EQ(s.details, "killed by signal 9");

  JobOutcome to = exited(0, "partial");
  to.result = TimedOut{};
  TestResult t = test_result_from_outcome("t", to, 1);
  EXPECT_EQ(t.status, TestStatus::TimedOut);
  EXPECT_EQ(t.stdout_lines, std::vector<std::string>{"partial"});
  EXPECT_EQ(status_line(t, 30, false).substr(30 - 16), "TIMEOUT   1.234s");

  JobOutcome ex;
  ex.result = JobError{JobErrorKind::Execution, "no such program"};
  TestResult e = test_result_from_outcome("t", ex, 1);
  EXPECT_EQ(e.status, TestStatus::Error);
  EXPECT_EQ(e.details, "execution error: no such program");
  EXPECT_FALSE(e.duration);
  EXPECT_EQ(status_line(e, 20, false), "t.......ERR         ");

  OutcomeHooks hooks;
  hooks.clean_stdout = [](std::vector<std::string> l) {
    l.erase(l.begin());
    return l;
  };
  EXPECT_EQ(test_result_from_outcome("t", exited(1, "fixture\nreal\n"), 1, hooks).stdout_lines,
            std::vector<std::string>{"real"});
}

TEST(Results, AnAdapterMaySayAPassingTestSkippedItself) {
  OutcomeHooks hooks;
  hooks.skipped = [](std::string_view out) -> std::optional<std::string> {
    if (out.find("SKIP") == std::string_view::npos) return std::nullopt;
    return "";
  };
  TestResult skipped = test_result_from_outcome("t", exited(0, "--- SKIP\nPASS\n"), 1, hooks);
  EXPECT_EQ(skipped.status, TestStatus::Ignored);
  EXPECT_FALSE(skipped.duration);  // no timing recorded for it
  EXPECT_FALSE(skipped.details);   // no reason given, none shown
  EXPECT_EQ(test_result_from_outcome("t", exited(0, "PASS\n"), 1, hooks).status, TestStatus::Ok);
  // Only a passing test can have skipped: a failure stays a failure.
  EXPECT_EQ(test_result_from_outcome("t", exited(1, "--- SKIP\n"), 1, hooks).status, TestStatus::Failure);
  hooks.skipped = [](std::string_view) -> std::optional<std::string> { return "needs a GPU"; };
  EXPECT_EQ(test_result_from_outcome("t", exited(0, ""), 1, hooks).details, "needs a GPU");
}

TEST(Results, SplitLines) {
  EXPECT_EQ(split_output_lines("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(split_output_lines("a\n"), std::vector<std::string>{"a"});
  EXPECT_EQ(split_output_lines("a\nb"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(split_output_lines("a\nb\n\n"), (std::vector<std::string>{"a", "b", ""}));
  EXPECT_TRUE(split_output_lines("").empty());
}

TEST(Results, FlakyLineSummaryAndJUnit) {
  TestResult flaky = test_result_from_outcome("pkg t", exited(0), 3);
  flaky.status = TestStatus::Flaky;
  flaky.attempt = 2;
  flaky.attempts = 3;
  TestResult first = test_result_from_outcome("pkg t", exited(1, "first try\n"), 2);
  flaky.earlier.push_back(first);
  EXPECT_EQ(status_line(flaky, 40, false).substr(40 - 18), "FLAKY 2/3   1.234s");
  std::vector<std::string> out;
  format_result(flaky, 40, false, out);
  EXPECT_EQ(out, (std::vector<std::string>{status_line(flaky, 40, false), "attempt 1 of 1: exited with code 1",
                                           "first try"}));
  TestSummary s;
  s.succeeded = 1;
  s.flaky = {"pkg t (2/3)"};
  auto lines = summary_lines(s, 80, false);
  EXPECT_EQ(lines[lines.size() - 2], "Flaky Tests     :         1");
  EXPECT_EQ(lines.back(), "    pkg t (2/3): flaky");
  std::string x = junit_xml("x", {{"pkg lib", "pkg", "t", flaky}});
  EXPECT_NE(x.find("tests=\"1\" failures=\"0\""), std::string::npos) << x;
  EXPECT_NE(x.find("<flakyFailure message=\"exited with code 1\" type=\"FAIL\">first try\n</flakyFailure>"),
            std::string::npos)
      << x;
  TestResult failed = test_result_from_outcome("pkg t", exited(1, "again\n"), 4);
  failed.earlier.push_back(first);
  x = junit_xml("x", {{"pkg lib", "pkg", "t", failed}});
  EXPECT_NE(x.find("</failure>\n      <rerunFailure message=\"exited with code 1\""), std::string::npos) << x;
}

TEST(Results, CachedLineSummaryAndJUnit) {
  TestResult c = cached_result("pkg t");
  EXPECT_FALSE(c.failed());
  std::string line = status_line(c, 40, false);
  EXPECT_EQ(line, "pkg t....................CACHED         ");  // no duration: not run
  TestSummary s;
  s.succeeded = 3;
  s.cached = 2;
  auto lines = summary_lines(s, 80, false);
  EXPECT_EQ(lines.back(), "Cached Tests    :         2");
  EXPECT_EQ(lines[lines.size() - 3], "Successful Tests:         3");
  TestResult ok = test_result_from_outcome("pkg u", exited(0), 1);
  std::string x = junit_xml("x", {{"pkg lib", "pkg", "t", c}, {"pkg lib", "pkg", "u", ok}});
  EXPECT_NE(x.find("tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\""), std::string::npos) << x;
  EXPECT_NE(x.find("<property name=\"cached\" value=\"1\"/>"), std::string::npos) << x;
  EXPECT_NE(x.find("<testcase classname=\"pkg\" name=\"t\" time=\"0.000\">\n      <system-out>cached: "),
            std::string::npos)
      << x;
}

TEST(JUnit, EscapesAndStructure) {
  EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
  EXPECT_EQ(xml_escape("x\x01y\xff"), "x\xEF\xBF\xBDy\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("\xc3\xa9\n", false), "\xc3\xa9\n");
  EXPECT_EQ(xml_escape("\n"), "&#10;");

  std::vector<JUnitCase> cases;
  cases.push_back({"pkg lib", "pkg", "ok", test_result_from_outcome("pkg ok", exited(0), 1)});
  cases.push_back(
      {"pkg lib", "pkg", "bad<1>", test_result_from_outcome("pkg bad", exited(1, "out & \x02 more\n"), 2)});
  cases.push_back({"pkg bin", "pkg", "skip", ignored_result("pkg skip")});
  JobOutcome err;
  err.result = JobError{JobErrorKind::System, "boom"};
  cases.push_back({"pkg bin", "pkg", "err", test_result_from_outcome("pkg err", err, 4)});
  std::string x = junit_xml("cargo-maelstrom", cases);
  EXPECT_NE(
      x.find("<testsuites name=\"cargo-maelstrom\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""),
      std::string::npos)
      << x;
  EXPECT_NE(x.find("<testsuite name=\"pkg lib\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" "
                   "time=\"2.468\">"),
            std::string::npos)
      << x;
  EXPECT_LT(x.find("name=\"pkg lib\""), x.find("name=\"pkg bin\""));
  EXPECT_NE(x.find("<testcase classname=\"pkg\" name=\"ok\" time=\"1.234\"/>"), std::string::npos) << x;
  EXPECT_NE(x.find("name=\"bad&lt;1&gt;\""), std::string::npos);
  EXPECT_NE(
      x.find("<failure message=\"exited with code 1\" type=\"FAIL\">out &amp; \xEF\xBF\xBD more\n</failure>"),
      std::string::npos)
      << x;
  EXPECT_NE(x.find("<skipped/>"), std::string::npos);
  EXPECT_NE(x.find("<error message=\"system error: boom\" type=\"ERR\">"), std::string::npos);

  // A real XML parser accepts it and sees the structure (skipped if Python is unavailable).
  std::string dir_tmpl = (std::filesystem::temp_directory_path() / "mael-junit-XXXXXX").string();
  std::filesystem::path dir = ::mkdtemp(dir_tmpl.data());
  auto file = dir / "report.xml";
  write_junit_xml(file, "cargo-maelstrom", cases);
  bool have_python = false;
  try {
    have_python = run_process({"python3", "-c", "pass"}).ok();
  } catch (const ProgramNotFound&) {
  }
  if (have_python) {
    std::string check =
        "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
        "s = r.findall('testsuite'); "
        "assert [x.get('name') for x in s] == ['pkg lib', 'pkg bin']; "
        "c = [t.get('name') for x in s for t in x.findall('testcase')]; assert c == ['ok', 'bad<1>', 'skip', "
        "'err'], c; "
        "assert s[0].findall('testcase')[1].find('failure').text.startswith('out & ')";
    ProcessResult r = run_process({"python3", "-c", check, file.string()});
    EXPECT_TRUE(r.ok()) << r.err;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mael
