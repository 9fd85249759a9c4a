#include "layers/glob_pattern.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

using mael::GlobPattern;

TEST(GlobPattern, StarCrossesSeparatorLikeGlobset) {
  GlobPattern g("*.txt");
  EXPECT_TRUE(g.matches("a.txt"));
  EXPECT_TRUE(g.matches("dir/b.txt"));
  EXPECT_FALSE(g.matches("a.bin"));
  EXPECT_FALSE(g.matches("a.txt.bak"));
  GlobPattern sub("foo/*");
  EXPECT_TRUE(sub.matches("foo/a"));
  EXPECT_FALSE(sub.matches("bar/b"));
  EXPECT_FALSE(sub.matches("foo"));
}

TEST(GlobPattern, DoubleStar) {
  GlobPattern any("**");
  EXPECT_TRUE(any.matches("a/b/c"));
  GlobPattern pre("**/x.rs");
  EXPECT_TRUE(pre.matches("x.rs"));
  EXPECT_TRUE(pre.matches("a/b/x.rs"));
  EXPECT_FALSE(pre.matches("ax.rs"));
  GlobPattern post("foo/**");
  EXPECT_TRUE(post.matches("foo/bar"));
  EXPECT_TRUE(post.matches("foo/bar/baz"));
  EXPECT_FALSE(post.matches("foo"));
  GlobPattern mid("a/**/b");
  EXPECT_TRUE(mid.matches("a/b"));
  EXPECT_TRUE(mid.matches("a/x/y/b"));
}

// What globset (the Rust crate whose defaults Maelstrom's glob layers use) answers for each
// pattern and path: '1' where it matches, '0' where not, in the order of kPaths.
TEST(GlobPattern, MatchesAsGlobsetDoes) {
  const std::vector<std::string> kPaths = {
      "a.py",         "x/a.py",    "x/y/a.pyc", "a.txt",  "/a.py", ".py",   "a.pyi",  "data/x.txt",
      "data/a/b.txt", "datax.txt", "b.txt",     "ab.txt", "c.txt", "x.txt", "x}.txt", "a",
      "ab",           "a/b",       "a/x/b",     "a/xb",   "a/",    "abc",   "x/y",    "abb",
      "a/b/c.py",     ""};
  const std::vector<std::pair<std::string, std::string>> kTable = {
      // "**" that is not a whole component is two '*', and '*' crosses '/'.
      {"**.py", "11001100000000000000000010"},
      {"**.{py,pyc,pyi}", "11101110000000000000000010"},
      {"a**", "10010010000100011111110110"},
      {"***", "11111111111111111111111111"},
      {"a/**b", "00000000000000000111000000"},
      {"data/**.txt", "00000001100000000000000000"},
      // A "**" starting an alternative is a whole component.
      {"{**/*.py,c.txt}", "11001100000010000000000010"},
      {"{a/**,b.txt}", "00000000001000000111100010"},
      // "**" or "**/" alone matches everything.
      {"**", "11111111111111111111111111"},
      {"**/", "11111111111111111111111111"},
      {"**/a.py", "11001000000000000000000000"},
      {"**/**/a.py", "11001000000000000000000000"},
      {"a/**", "00000000000000000111100010"},
      {"a/**/b", "00000000000000000110000000"},
      {"a/**/", "00000000000000000000100000"},
      {"*.py", "11001100000000000000000010"},
      // Empty alternatives are dropped; a '}' with no '{' is ignored; ',' outside is literal.
      {"{,a}b.txt", "00000000000100000000000000"},
      {"{}a", "00000000000000010000000000"},
      {"x}.txt", "00000000000001000000000000"},
      {"}", "00000000000000000000000001"},
      {"a,b", "00000000000000000000000000"},
      // Classes: ']' or '-' first is literal, a trailing '-' too, ranges extend.
      {"[a-c-e]", "00000000000000010000000000"},
      {"[]a]", "00000000000000010000000000"},
      {"[a-]", "00000000000000010000000000"},
      {"[!a]b", "00000000000000000000000000"},
      {"a\\*", "00000000000000000000000000"},
  };
  for (const auto& [pattern, expected] : kTable) {
    ASSERT_EQ(expected.size(), kPaths.size()) << pattern;
    GlobPattern g(pattern);
    for (size_t i = 0; i < kPaths.size(); ++i)
      EXPECT_EQ(g.matches(kPaths[i]), expected[i] == '1')
          << "pattern '" << pattern << "' path '" << kPaths[i] << "' (regex " << g.regex() << ")";
  }
  // What globset refuses.
  for (const char* bad : {"{a", "[a", "a\\", "[z-a]"}) EXPECT_THROW(GlobPattern{bad}, mael::UserError) << bad;
  EXPECT_TRUE(GlobPattern("[ab]\\[").matches("a["));
}

TEST(GlobPattern, ClassesAlternativesEscapes) {
  GlobPattern cls("file[0-9][!a].{c,h}");
  EXPECT_TRUE(cls.matches("file1b.c"));
  EXPECT_TRUE(cls.matches("file2x.h"));
  EXPECT_FALSE(cls.matches("file1a.c"));
  EXPECT_FALSE(cls.matches("fileab.c"));
  EXPECT_FALSE(cls.matches("file1b.o"));
  GlobPattern esc("a\\*b?.(x)");
  EXPECT_TRUE(esc.matches("a*bc.(x)"));
  EXPECT_FALSE(esc.matches("aZbc.(x)"));
  EXPECT_THROW(GlobPattern("[abc"), mael::UserError);
  EXPECT_THROW(GlobPattern("{a,b"), mael::UserError);
}

TEST(GlobPattern, LiteralDirectoryIsWhereEveryMatchLies) {
  using mael::glob_literal_dir;
  EXPECT_EQ(glob_literal_dir("crates/alpha/data/*.txt"), "crates/alpha/data");
  EXPECT_EQ(glob_literal_dir("crates/alpha/data/x.txt"), "crates/alpha/data");
  EXPECT_EQ(glob_literal_dir("foo/**"), "foo");
  EXPECT_EQ(glob_literal_dir("a/**/b"), "a");
  EXPECT_EQ(glob_literal_dir("a/b*/c"), "a");
  EXPECT_EQ(glob_literal_dir("a/{b,c}/d"), "a");
  EXPECT_EQ(glob_literal_dir("a/[bc]/d"), "a");
  EXPECT_EQ(glob_literal_dir("a/b\\*/d"), "a");
  EXPECT_EQ(glob_literal_dir("a/b}/d"), "a");  // a stray '}' is dropped: "a/b/d" matches
  EXPECT_EQ(glob_literal_dir("a/./b/c"), "a");
  EXPECT_EQ(glob_literal_dir("a/../b/c"), "a");
  EXPECT_EQ(glob_literal_dir("a//b"), "a");
  EXPECT_EQ(glob_literal_dir("/abs/x"), "");
  EXPECT_EQ(glob_literal_dir("**/x.rs"), "");
  EXPECT_EQ(glob_literal_dir("*.txt"), "");
  EXPECT_EQ(glob_literal_dir("Cargo.toml"), "");
  EXPECT_EQ(glob_literal_dir(""), "");
  // What it promises: a path the pattern matches lies below the directory.
  for (const char* p : {"crates/a/*.txt", "foo/**", "a/**/b", "x/y/z", "a/**b", "x}/y/z"}) {
    GlobPattern g(p);
    std::string dir = glob_literal_dir(p);
    if (!dir.empty()) dir += "/";
    for (const char* path : {"crates/a/b.txt", "foo/bar", "a/b", "a/q/b", "x/y/z", "b.txt", "foo", "a/xb"})
      if (g.matches(path)) {
        EXPECT_TRUE(std::string(path).starts_with(dir)) << p << " " << path;
      }
  }
}
