#include "layers/brace_expand.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

using mael::expand_braces;
using ::testing::ElementsAre;

TEST(BraceExpand, Basics) {
  EXPECT_THAT(expand_braces("/dev/{null,zero}"), ElementsAre("/dev/null", "/dev/zero"));
  EXPECT_THAT(expand_braces("/{proc,tmp}/"), ElementsAre("/proc/", "/tmp/"));
  EXPECT_THAT(expand_braces("/usr/bin/"), ElementsAre("/usr/bin/"));
  EXPECT_THAT(expand_braces("/foo/{bar,baz,}"), ElementsAre("/foo/bar", "/foo/baz", "/foo/"));
}

TEST(BraceExpand, ProductNestingRanges) {
  EXPECT_THAT(expand_braces("{a,b}{c,d}"), ElementsAre("ac", "ad", "bc", "bd"));
  EXPECT_THAT(expand_braces("x{a,{b,c}y}z"), ElementsAre("xaz", "xbyz", "xcyz"));
  EXPECT_THAT(expand_braces("f{1..3}"), ElementsAre("f1", "f2", "f3"));
  EXPECT_THAT(expand_braces("{c..a}"), ElementsAre("c", "b", "a"));
  EXPECT_THAT(expand_braces("{x}{a,b}"), ElementsAre("{x}a", "{x}b"));
}

TEST(BraceExpand, Errors) {
  EXPECT_THROW(expand_braces("/dev/{null,zero"), mael::UserError);
  EXPECT_THROW(expand_braces("/dev/null}"), mael::UserError);
}
