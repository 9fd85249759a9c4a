#include "layers/brace_expand.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_errors.h"

namespace mael {
namespace {

using ::testing::ElementsAre;
using Paths = std::vector<std::string>;

// What Maelstrom 0.14's stubs (the bracoxide crate, 0.1.5) make of each pattern.
struct Row {
  std::string pattern;
  Paths paths;
};
const Row kAsMaelstrom[] = {
    {"/dev/{null,zero}", {"/dev/null", "/dev/zero"}},
    {"/{proc,tmp}/", {"/proc/", "/tmp/"}},
    {"/usr/bin/", {"/usr/bin/"}},
    // Single alternatives lose their braces.
    {"{a}", {"a"}},
    {"/x/{a}/y", {"/x/a/y"}},
    {"{x}{a,b}", {"xa", "xb"}},
    {"{a}{b}", {"ab"}},
    {"{{a}}", {"a"}},
    {"{}", {""}},
    {"a{}b", {"ab"}},
    {"/a/{}/", {"/a//"}},
    {"{{}}", {""}},
    {"{}{}", {""}},
    // Empty alternatives are kept, duplicates too.
    {"/foo/{bar,baz,}", {"/foo/bar", "/foo/baz", "/foo/"}},
    {"{a,}", {"a", ""}},
    {"{,a}", {"", "a"}},
    {"{,}", {"", ""}},
    {"a{,}b", {"ab", "ab"}},
    {"{a,,b}", {"a", "", "b"}},
    {"{,}{,}", {"", "", "", ""}},
    {"{,{,}}", {"", "", ""}},
    // Products left to right, nesting.
    {"{a,b}{c,d}", {"ac", "ad", "bc", "bd"}},
    {"/usr/{bin,lib}/{x,y}", {"/usr/bin/x", "/usr/bin/y", "/usr/lib/x", "/usr/lib/y"}},
    {"x{a,{b,c}y}z", {"xaz", "xbyz", "xcyz"}},
    {"{{a,b}}", {"a", "b"}},
    {"{a,{b}}", {"a", "b"}},
    {"{a{b,c}}", {"ab", "ac"}},
    {"a{b}c{d,e}", {"abcd", "abce"}},
    {"{ a , b }", {" a ", " b "}},
    // Ranges, zero-padded when a bound has a leading 0.
    {"f{1..3}", {"f1", "f2", "f3"}},
    {"{1..1}", {"1"}},
    {"{9..10}", {"9", "10"}},
    {"{0..2}", {"0", "1", "2"}},
    {"{08..10}", {"08", "09", "10"}},
    {"{1..03}", {"01", "02", "03"}},
    {"{001..3}", {"001", "002", "003"}},
    {"{1..2}{1..2}", {"11", "12", "21", "22"}},
    {"{{1..3},a}", {"1", "2", "3", "a"}},
    // Single dots are text.
    {"x.{a,b}", {"x.a", "x.b"}},
    {"{a.b,c}", {"a.b", "c"}},
    // Without '{' nothing is special.
    {"a}b", {"a}b"}},
    {"}", {"}"}},
    {"a,b", {"a,b"}},
    {"a,b}", {"a,b}"}},
    {"a\\b", {"a\\b"}},
    // With '{', '\' makes the next character literal; one at the very end is dropped.
    {"{a\\,b,c}", {"a,b", "c"}},
    {"{a\\}b,c}", {"a}b", "c"}},
    {"{a\\{b,c}", {"a{b", "c"}},
    {"x\\{{a,b}", {"x{a", "x{b"}},
    {"\\\\{a,b}", {"\\a", "\\b"}},
    {"\\a{b,c}", {"ab", "ac"}},
    {"{a,b}\\", {"a", "b"}},
    {"{\\..\\.}", {"..."}},
};

TEST(BraceExpand, AsMaelstrom) {
  for (const Row& row : kAsMaelstrom) EXPECT_EQ(expand_braces(row.pattern), row.paths) << row.pattern;
}

std::string error_of(const std::string& pattern, size_t max = limits::kMaxStubEntries) {
  return testing::user_error_of([&] { expand_braces(pattern, max); });
}

TEST(BraceExpand, ErrorsWhereMaelstromHasThem) {
  // Maelstrom refuses each of these too (its own words differ).
  const std::pair<std::string, std::string> rows[] = {
      {"{a", "'{' without a '}' at column 1"},
      {"a{b", "'{' without a '}' at column 2"},
      {"{", "'{' without a '}' at column 1"},
      {"{a,b", "'{' without a '}' at column 1"},
      {"{a,\\}", "'{' without a '}' at column 1"},
      {"{a,b}}", "'}' without a '{' at column 6"},
      {"}a{b,c}", "'}' without a '{' at column 1"},
      {"{a,b}c}", "'}' without a '{' at column 7"},
      {"{a,b},c", "',' outside braces (write \\, for a comma) at column 6"},
      {"x,{a,b}", "',' outside braces (write \\, for a comma) at column 2"},
      {"/a/../{b,c}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 4"},
      {"{a..c}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 3"},
      {"{-1..1}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 4"},
      {"{1..3a}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 3"},
      {"{a..b,c}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 3"},
      {"{1...3}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 3"},
      {"{..}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 2"},
      {"{1..}", "'..' outside a range (a range is {FIRST..LAST} with two whole numbers) at column 3"},
      {"{1..99999999999999999999}", "range bound 99999999999999999999 is too large at column 2"},
  };
  for (const auto& [pattern, what] : rows)
    EXPECT_EQ(error_of(pattern), "stubs entry '" + pattern + "': " + what) << pattern;
  // Maelstrom expands a range counting down to nothing, silently dropping the stub.
  EXPECT_EQ(error_of("/dev/tty{3..1}"), "stubs entry '/dev/tty{3..1}': range {3..1} counts down (write {1..3}) at "
                                        "column 9");
}

TEST(BraceExpand, NumberOfPathsIsBounded) {
  // 2^19 paths took 110 s and half a million entries: now refused before any is made.
  std::string pattern;
  for (int i = 0; i < 19; ++i) pattern += "{a,b}";
  EXPECT_EQ(error_of(pattern),
            "stubs entry '" + pattern + "': expands to more than 10000 paths in one stubs layer (the limit)");
  EXPECT_THAT(error_of("/{1..18446744073709551615}{1..18446744073709551615}"),
              ::testing::HasSubstr("expands to more than 10000 paths"));
  // Up to the bound is fine.
  std::string thirteen;
  for (int i = 0; i < 13; ++i) thirteen += "/{a,b}";
  Paths p = expand_braces(thirteen);
  ASSERT_EQ(p.size(), 8192u);
  EXPECT_EQ(p.front(), "/a/a/a/a/a/a/a/a/a/a/a/a/a");
  EXPECT_EQ(p[1], "/a/a/a/a/a/a/a/a/a/a/a/a/b");
  EXPECT_EQ(p.back(), "/b/b/b/b/b/b/b/b/b/b/b/b/b");
  EXPECT_EQ(expand_braces("/dev/tty{1..10000}").size(), 10000u);
  EXPECT_THAT(error_of("/dev/tty{1..10001}"), ::testing::HasSubstr("expands to more than 10000 paths"));
  // The caller's room left in the layer is the bound; a plain path takes one place too.
  EXPECT_EQ(expand_braces("/{a,b}", 2).size(), 2u);
  EXPECT_THAT(error_of("/{a,b}", 1), ::testing::HasSubstr("expands to more than 10000 paths"));
  EXPECT_THAT(error_of("/a", 0), ::testing::HasSubstr("expands to more than 10000 paths"));
}

TEST(BraceExpand, DepthAndLengthAreBounded) {
  std::string deep = std::string(32, '{') + "a" + std::string(32, '}');
  EXPECT_EQ(expand_braces(deep), Paths{"a"});
  std::string deeper = std::string(1'000'000, '{') + "a" + std::string(1'000'000, '}');
  EXPECT_EQ(error_of(deeper), "stubs entry '" + std::string(200, '{') +
                                  "...': braces nested more than 32 levels deep (the limit) at column 33");
  // Many single alternatives in a row cost their length, not their number squared.
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "{a}";
  EXPECT_EQ(expand_braces(many), Paths{std::string(1000, 'a')});
  EXPECT_EQ(error_of("/{a,b}/" + std::string(4096, 'x')),
            "stubs entry '/{a,b}/" + std::string(193, 'x') +
                "...': expands to a path longer than 4096 bytes (the limit)");
}

}  // namespace
}  // namespace mael
