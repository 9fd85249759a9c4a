#include "layers/glob_pattern.h"

#include <gtest/gtest.h>

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
  EXPECT_THROW(GlobPattern("a**b"), mael::UserError);
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
  EXPECT_EQ(glob_literal_dir("a/./b/c"), "a");
  EXPECT_EQ(glob_literal_dir("a/../b/c"), "a");
  EXPECT_EQ(glob_literal_dir("a//b"), "a");
  EXPECT_EQ(glob_literal_dir("/abs/x"), "");
  EXPECT_EQ(glob_literal_dir("**/x.rs"), "");
  EXPECT_EQ(glob_literal_dir("*.txt"), "");
  EXPECT_EQ(glob_literal_dir("Cargo.toml"), "");
  EXPECT_EQ(glob_literal_dir(""), "");
  // What it promises: a path the pattern matches lies below the directory.
  for (const char* p : {"crates/a/*.txt", "foo/**", "a/**/b", "x/y/z"}) {
    GlobPattern g(p);
    std::string dir = glob_literal_dir(p) + "/";
    for (const char* path : {"crates/a/b.txt", "foo/bar", "a/b", "a/q/b", "x/y/z", "b.txt", "foo"})
      if (g.matches(path)) {
        EXPECT_TRUE(std::string(path).starts_with(dir)) << p << " " << path;
      }
  }
}
