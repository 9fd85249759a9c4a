#include "runner/filter.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include "base/error.h"

namespace mael {
namespace {

std::string canon(std::string_view text, const FilterLanguage& lang = cargo_filter_language()) {
  return Filter::parse(text, lang).to_string();
}

std::string error_of(std::string_view text, const FilterLanguage& lang = cargo_filter_language()) {
  try {
    Filter::parse(text, lang);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

FilterFields cargo_test(std::string package, std::string kind, std::string artifact, std::string name) {
  FilterFields f;
  f.strings["package"] = std::move(package);
  f.strings["kind"] = std::move(kind);
  f.strings["artifact"] = std::move(artifact);
  f.strings["name"] = std::move(name);
  return f;
}

TEST(FilterParse, SimpleSelectorsAndEmptyParens) {
  for (const char* w : {"all", "any", "true", "all()", "any()", "true()", "all( )"})
    EXPECT_EQ(canon(w), "all") << w;
  for (const char* w : {"none", "false", "none()", "false()"}) EXPECT_EQ(canon(w), "none") << w;
  for (const char* w : {"library", "binary", "benchmark", "example", "test"}) {
    EXPECT_EQ(canon(w), w);
    EXPECT_EQ(canon(std::string(w) + "()"), w);
  }
}

TEST(FilterParse, SimpleSelectorPrefixesAsMaelstrom) {
  struct Case {
    const char* word;
    size_t min;
    const char* canon;
  };
  for (Case c :
       {Case{"all", 2, "all"}, Case{"any", 2, "all"}, Case{"true", 2, "all"}, Case{"none", 1, "none"},
        Case{"false", 1, "none"}, Case{"library", 1, "library"}, Case{"binary", 2, "binary"},
        Case{"benchmark", 2, "benchmark"}, Case{"example", 1, "example"}, Case{"test", 2, "test"}}) {
    std::string w = c.word;
    for (size_t n = c.min; n <= w.size(); ++n) EXPECT_EQ(canon(w.substr(0, n)), c.canon) << w.substr(0, n);
    if (c.min > 1) {
      EXPECT_NE(error_of(w.substr(0, c.min - 1)), "no error") << w;
    }
  }
  EXPECT_NE(error_of("t").find("ambiguous"), std::string::npos) << error_of("t");
}

TEST(FilterParse, CompoundSelectorsMatchersAndDelimiters) {
  EXPECT_EQ(canon("name.equals(foo)"), "name.equals(foo)");
  EXPECT_EQ(canon("name.eq(foo)"), "name.equals(foo)");
  EXPECT_EQ(canon("n.eq(foo)"), "name.equals(foo)");
  EXPECT_EQ(canon("pack.eq(foo)"), "package.equals(foo)");
  EXPECT_EQ(canon("p.c[foo]"), "package.contains(foo)");
  EXPECT_EQ(canon("bi.s{foo}"), "binary.starts_with(foo)");
  EXPECT_EQ(canon("be.en<foo>"), "benchmark.ends_with(foo)");
  EXPECT_EQ(canon("e.m/fo+/"), "example.matches(fo+)");
  EXPECT_EQ(canon("te.g(*foo*)"), "test.globs(*foo*)");
  // `e` is ambiguous between equals and ends_with.
  EXPECT_NE(error_of("name.e(x)").find("ambiguous"), std::string::npos);
}

TEST(FilterParse, ArgumentNestingAsMaelstrom) {
  auto arg = [](const char* text) {
    std::string c = canon(std::string("name.eq") + text);
    return c.substr(std::string("name.equals(").size(), c.size() - std::string("name.equals(").size() - 1);
  };
  EXPECT_EQ(arg("[abc]"), "abc");
  EXPECT_EQ(arg("<abc>"), "abc");
  EXPECT_EQ(arg("[(hello)]"), "(hello)");
  EXPECT_EQ(arg("((hello))"), "(hello)");
  EXPECT_EQ(arg("(([hello]))"), "([hello])");
  EXPECT_EQ(arg("(he[llo)"), "he[llo");
  EXPECT_EQ(arg("()"), "");
  EXPECT_EQ(arg("((()))"), "(())");
  EXPECT_EQ(arg("((a)(b))"), "(a)(b)");
  EXPECT_EQ(arg("(a b && c)"), "a b && c");
  EXPECT_NE(error_of("name.eq[1)"), "no error");
  EXPECT_NE(error_of("name.eq(((hello))"), "no error");
}

TEST(FilterParse, OperatorsAllSpellings) {
  for (const char* t : {"!all", "~all", "not all", "not(all)", "! all"}) EXPECT_EQ(canon(t), "!all") << t;
  for (const char* t : {"all & none", "all&&none", "all + none", "all and none"})
    EXPECT_EQ(canon(t), "(all & none)") << t;
  for (const char* t : {"all | none", "all||none", "all or none"}) EXPECT_EQ(canon(t), "(all | none)") << t;
  for (const char* t : {"all \\ none", "all-none", "all minus none"})
    EXPECT_EQ(canon(t), "(all - none)") << t;
}

TEST(FilterParse, Precedence) {
  EXPECT_EQ(canon("all || any && none"), "(all | (all & none))");
  EXPECT_EQ(canon("all && any || none"), "((all & all) | none)");
  EXPECT_EQ(canon("!all && none"), "(!all & none)");
  EXPECT_EQ(canon("( all || any ) && none - library"), "(((all | all) & none) - library)");
  EXPECT_EQ(canon("not ( all or any ) and none minus library"), "((!(all | all) & none) - library)");
  // Difference associates to the left, as the BNF says: a - b - c == (a - b) - c.
  EXPECT_EQ(canon("all - test - library"), "((all - test) - library)");
  EXPECT_EQ(canon("!!all"), "!!all");
}

TEST(FilterParse, ErrorsNameTheColumn) {
  EXPECT_EQ(error_of("all &&"),
            "invalid filter 'all &&': at column 7: expected a selector, found the end of the filter");
  EXPECT_EQ(
      error_of("all none"),
      "invalid filter 'all none': at column 5: expected an operator or the end of the filter, found `none`");
  EXPECT_EQ(error_of("name.eq(foo"),
            "invalid filter 'name.eq(foo': at column 8: unterminated argument: missing `)`");
  EXPECT_EQ(error_of("(all"), "invalid filter '(all': at column 1: unclosed `(`");
  EXPECT_NE(error_of("name").find("at column 1: selector `name` needs a matcher"), std::string::npos);
  EXPECT_NE(error_of("all || frob").find("at column 8: selector `frob` is unknown"), std::string::npos);
  EXPECT_NE(error_of("name.frob(x)").find("at column 6: matcher `frob` is unknown"), std::string::npos);
  EXPECT_NE(error_of("name.matches(a(b)").find("at column 13:"), std::string::npos);
  EXPECT_NE(error_of("name.matches/a(b/").find("invalid regular expression"), std::string::npos);
  EXPECT_NE(error_of("name.globs/a[b/").find("unclosed `[`"), std::string::npos);
  EXPECT_NE(error_of("library(x)").find("takes no argument"), std::string::npos);
  EXPECT_NE(error_of("name.eq x").find("expected an argument"), std::string::npos);
  EXPECT_NE(error_of("").find("found the end"), std::string::npos);
}

TEST(FilterParse, NestingIsBoundedWithAClearError) {
  auto nested = [](int n, const std::string& open, const std::string& close) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += "all";
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  // 128 levels are read; a million used to overflow the parser's stack.
  EXPECT_EQ(canon(nested(128, "(", ")")), "all");
  EXPECT_EQ(canon(nested(64, "!(", ")")), nested(64, "!", ""));
  EXPECT_EQ(error_of(nested(1'000'000, "(", ")")),
            "invalid filter '" + std::string(200, '(') +
                "...': at column 129: parentheses and negations nested more than 128 levels deep (the limit)");
  EXPECT_EQ(error_of(nested(129, "! ", "")),
            "invalid filter '" + std::string(nested(100, "! ", "")).substr(0, 200) +
                "...': at column 257: parentheses and negations nested more than 128 levels deep (the limit)");
}

TEST(FilterParse, LongChainsOfOperatorsAreFine) {
  // A chain is one node, whatever its length: parsing, evaluating, printing and freeing it
  // recurse once, not once per operator.
  const auto& l = cargo_filter_language();
  std::string text = "name.eq(t0)";
  for (int i = 1; i < 200'000; ++i) text += (i % 3 ? " | name.eq(t" : " - name.eq(t") + std::to_string(i) + ")";
  Filter f = Filter::parse(text, l);
  EXPECT_TRUE(f.matches(cargo_test("a", "library", "a", "t199999")));
  EXPECT_FALSE(f.matches(cargo_test("a", "library", "a", "t3")));
  EXPECT_FALSE(f.matches(cargo_test("a", "library", "a", "none")));
  std::string canonical = f.to_string();
  // `-` binds tighter than `|`: 133,333 `|` and 66,666 `-`, each one parenthesized operation.
  EXPECT_TRUE(canonical.starts_with(std::string(133'333, '(') +
                                    "name.equals(t0) | name.equals(t1)) | (name.equals(t2) - name.equals(t3))) | "));
  EXPECT_TRUE(canonical.ends_with(" | name.equals(t199999))"));
  // Many --include filters make one chain too.
  std::vector<std::string> includes;
  for (int i = 0; i < 100'000; ++i) includes.push_back("name.eq(t" + std::to_string(i) + ")");
  Filter c = Filter::compile(includes, {"name.eq(t5)"}, l);
  EXPECT_TRUE(c.matches(cargo_test("a", "library", "a", "t99999")));
  EXPECT_FALSE(c.matches(cargo_test("a", "library", "a", "t5")));
}

TEST(FilterEval, CargoSelectors) {
  FilterFields t = cargo_test("foo", "binary", "foo-bin", "tests::bar");
  auto m = [&](const char* text) { return Filter::parse(text, cargo_filter_language()).matches(t); };
  EXPECT_TRUE(m("all"));
  EXPECT_FALSE(m("none"));
  EXPECT_TRUE(m("binary"));
  EXPECT_FALSE(m("library"));
  EXPECT_TRUE(m("binary.equals(foo-bin)"));
  EXPECT_FALSE(m("test.equals(foo-bin)"));  // guard: the artifact is not a test target
  EXPECT_TRUE(m("name.contains(::b)"));
  EXPECT_TRUE(m("name.starts_with(tests::)"));
  EXPECT_TRUE(m("name.ends_with(bar)"));
  EXPECT_TRUE(m("name.matches/^tests::b.r$/"));
  EXPECT_TRUE(m("name.matches(b)"));  // unanchored search, like Rust's is_match
  EXPECT_FALSE(m("name.matches(^bar)"));
  EXPECT_TRUE(m("name.globs(tests::*)"));
  EXPECT_FALSE(m("name.globs(bar)"));  // globs match the whole name
  EXPECT_TRUE(m("package.eq(foo) && !name.eq(x)"));
  EXPECT_FALSE(m("package.eq(foo) - name.contains(bar)"));
  EXPECT_TRUE(m("all - test - binary.eq(nope)"));
}

TEST(FilterEval, ThreeValuedOnPackageOnly) {
  FilterFields pkg;
  pkg.strings["package"] = "foo";
  auto ev = [&](const char* text) { return Filter::parse(text, cargo_filter_language()).evaluate(pkg); };
  EXPECT_EQ(ev("package.equals(foo)"), Tri::True);
  EXPECT_EQ(ev("package.equals(bar)"), Tri::False);
  EXPECT_EQ(ev("name.equals(x)"), Tri::Unknown);
  EXPECT_EQ(ev("library"), Tri::Unknown);
  EXPECT_EQ(ev("package.equals(bar) && name.equals(x)"), Tri::False);
  EXPECT_EQ(ev("package.equals(foo) || name.equals(x)"), Tri::True);
  EXPECT_EQ(ev("package.equals(foo) && name.equals(x)"), Tri::Unknown);
  EXPECT_EQ(ev("!name.equals(x)"), Tri::Unknown);
  EXPECT_EQ(ev("all - package.equals(foo)"), Tri::False);
  EXPECT_FALSE(Filter::parse("package.equals(bar) & test", cargo_filter_language()).may_match(pkg));
  EXPECT_TRUE(Filter::parse("package.equals(foo) & test", cargo_filter_language()).may_match(pkg));
}

TEST(FilterCompile, IncludeMinusExclude) {
  const auto& l = cargo_filter_language();
  FilterFields a = cargo_test("a", "library", "a", "t1"), b = cargo_test("b", "library", "b", "t2");
  Filter def = Filter::compile({}, {}, l);
  EXPECT_TRUE(def.matches(a) && def.matches(b));
  Filter inc = Filter::compile({"package.eq(a)", "package.eq(b)"}, {}, l);
  EXPECT_TRUE(inc.matches(a) && inc.matches(b));
  Filter ex = Filter::compile({"package.eq(a)", "package.eq(b)"}, {"name.eq(t2)"}, l);
  EXPECT_TRUE(ex.matches(a));
  EXPECT_FALSE(ex.matches(b));
  Filter only_ex = Filter::compile({}, {"name.eq(t1)"}, l);
  EXPECT_FALSE(only_ex.matches(a));
  EXPECT_TRUE(only_ex.matches(b));
  EXPECT_THROW(Filter::compile({"bogus"}, {}, l), UserError);
}

TEST(FilterGo, SelectorsAndPackagePrefix) {
  const auto& l = go_filter_language();
  EXPECT_EQ(canon("p.eq(x)", l), "package_import_path.equals(x)");
  EXPECT_EQ(canon("package.eq(x)", l), "package_import_path.equals(x)");
  EXPECT_EQ(canon("package_p.eq(x)", l), "package_path.equals(x)");
  EXPECT_EQ(canon("package_n.eq(x)", l), "package_name.equals(x)");
  EXPECT_EQ(canon("n.eq(x)", l), "name.equals(x)");
  EXPECT_NE(error_of("library", l), "no error");
  FilterFields t;
  t.strings = {{"package_import_path", "github.com/a/b"},
               {"package_path", "b"},
               {"package_name", "bee"},
               {"name", "TestX"}};
  EXPECT_TRUE(Filter::parse("package.eq(github.com/a/b) && package_name.eq(bee) && package_path.eq(b)", l)
                  .matches(t));
  EXPECT_TRUE(Filter::parse("name.globs(Test*)", l).matches(t));
}

TEST(FilterPytest, MarkersAndSelectors) {
  const auto& l = pytest_filter_language();
  EXPECT_EQ(canon("markers.contains(slow)", l), "markers.contains(slow)");
  EXPECT_EQ(canon("markers.c/slow/", l), "markers.contains(slow)");
  EXPECT_NE(error_of("markers.equals(a)", l).find("only takes the matcher `contains`"), std::string::npos);
  EXPECT_EQ(canon("na.eq(x)", l), "name.equals(x)");
  EXPECT_EQ(canon("no.eq(x)", l), "node_id.equals(x)");
  EXPECT_NE(error_of("n.eq(x)", l).find("ambiguous"), std::string::npos);
  EXPECT_EQ(canon("f.eq(x)", l), "file.equals(x)");
  FilterFields t;
  t.strings = {{"package", "proj"},
               {"file", "tests/test_a.py"},
               {"name", "test_x"},
               {"node_id", "tests/test_a.py::test_x"}};
  t.lists["markers"] = {"slow", "net"};
  EXPECT_TRUE(Filter::parse("markers.contains(slow)", l).matches(t));
  EXPECT_FALSE(Filter::parse("markers.contains(sl)", l).matches(t));  // elements, not substrings
  EXPECT_TRUE(Filter::parse("file.globs(tests/*.py) & node_id.ends_with(::test_x)", l).matches(t));
  FilterFields file_only;
  file_only.strings = {{"package", "proj"}, {"file", "tests/test_a.py"}};
  EXPECT_EQ(Filter::parse("markers.contains(slow)", l).evaluate(file_only), Tri::Unknown);
}

TEST(Glob, Semantics) {
  auto g = [](const char* glob, const char* s) { return RE2::FullMatch(s, RE2(glob_to_regex(glob))); };
  EXPECT_TRUE(g("*.rs", "src/a.rs"));  // `*` crosses `/`, like globset's default
  EXPECT_TRUE(g("a?c", "abc"));
  EXPECT_FALSE(g("a?c", "ac"));
  EXPECT_TRUE(g("[a-c]x", "bx"));
  EXPECT_FALSE(g("[!a-c]x", "bx"));
  EXPECT_TRUE(g("{foo,bar}.py", "bar.py"));
  EXPECT_TRUE(g("**/foo", "foo"));
  EXPECT_TRUE(g("**/foo", "a/b/foo"));
  EXPECT_TRUE(g("a/**/b", "a/b"));
  EXPECT_TRUE(g("a/**/b", "a/x/y/b"));
  EXPECT_TRUE(g("a\\*", "a*"));
  EXPECT_FALSE(g("a\\*", "ab"));
  EXPECT_TRUE(g("a.b+c", "a.b+c"));
  EXPECT_FALSE(g("a.b", "axb"));
  EXPECT_THROW(glob_to_regex("{a,b"), UserError);
}

}  // namespace
}  // namespace mael
