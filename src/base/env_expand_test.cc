#include "base/env_expand.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace mael {
namespace {

using ::testing::HasSubstr;

const EnvLookup kEnv = map_env_lookup({{"FOO", "foo"}, {"BAR", "bar"}, {"EMPTY", ""}});
const EnvLookup kPrev = map_env_lookup({{"FOO", "prev-foo"}, {"BAR", "prev-bar"}, {"EMPTY", ""}});

std::string expand(std::string_view s) {
  return expand_env_value(s, kEnv, kPrev);
}

std::string error_of(std::string_view s) {
  try {
    expand(s);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(EnvExpand, PlainTextIsUnchanged) {
  EXPECT_EQ(expand(""), "");
  EXPECT_EQ(expand("foo bar blah"), "foo bar blah");
}

TEST(EnvExpand, DoubleDollarIsLiteral) {
  EXPECT_EQ(expand("foo$$bar$$$$baz$$$$$$"), "foo$bar$$baz$$$");
  EXPECT_EQ(expand("$$$$foo$$bar$$$$baz"), "$$foo$bar$$baz");
  EXPECT_EQ(expand("$$env{FOO}"), "$env{FOO}");
  EXPECT_EQ(expand("$$$env{FOO}"), "$foo");
}

TEST(EnvExpand, EnvAndPrev) {
  EXPECT_EQ(expand("xx$env{FOO}yy$prev{FOO}$env{BAR}$prev{BAR}zz"), "xxfooyyprev-foobarprev-barzz");
  EXPECT_EQ(expand("$env{FOO}"), "foo");
  EXPECT_EQ(expand("$prev{FOO}more"), "prev-foomore");
  EXPECT_EQ(expand("more$env{FOO}"), "morefoo");
}

TEST(EnvExpand, DefaultsApplyWhenUnsetOrEmpty) {
  EXPECT_EQ(expand("$env{EMPTY:-Hello} $prev{X:-World}: $env{FOO:-bar}"), "Hello World: foo");
  EXPECT_EQ(expand("$env{NOPE:-}"), "");
  EXPECT_EQ(expand("$env{EMPTY}"), "");
}

TEST(EnvExpand, Errors) {
  EXPECT_THAT(error_of("$"), HasSubstr(R"(`$` must be followed by "$", "env{", or "prev{")"));
  EXPECT_THAT(error_of("foo$"), HasSubstr("must be followed by"));
  EXPECT_THAT(error_of("foo$$$$$"), HasSubstr("must be followed by"));
  EXPECT_THAT(error_of("$FOO"), HasSubstr("must be followed by"));
  EXPECT_THAT(error_of("$blah{FOO}"), HasSubstr("must be followed by"));
  EXPECT_EQ(error_of("$env{FOO $env{BAR}"), "unterminated `{` in `$env{`");
  EXPECT_EQ(error_of("$env{FOO} $prev{BAR"), "unterminated `{` in `$prev{`");
  EXPECT_EQ(error_of("$env{UNKNOWN}"),
            "unknown variable \"UNKNOWN\" in `$env{UNKNOWN}`: set it in the environment or give a default "
            "with `$env{UNKNOWN:-default}`");
  EXPECT_EQ(error_of("x$prev{NEW}"),
            "unknown variable \"NEW\" in `$prev{NEW}`: it has no value yet; give a default with "
            "`$prev{NEW:-default}`");
}

TEST(EnvExpand, SyntaxCheckNeedsNoLookups) {
  EXPECT_NO_THROW(check_env_value_syntax("$env{ANYTHING_AT_ALL} $prev{X} $$"));
  EXPECT_THROW(check_env_value_syntax("$env{X"), UserError);
  EXPECT_THROW(check_env_value_syntax("a$b"), UserError);
}

TEST(EnvExpand, ProcessLookupReadsTheEnvironment) {
  ::setenv("MAEL_ENV_EXPAND_TEST_VAR", "v1", 1);
  EnvLookup env = process_env_lookup();
  EXPECT_EQ(env("MAEL_ENV_EXPAND_TEST_VAR"), "v1");
  ::unsetenv("MAEL_ENV_EXPAND_TEST_VAR");
  EXPECT_EQ(env("MAEL_ENV_EXPAND_TEST_VAR"), std::nullopt);
}

}  // namespace
}  // namespace mael
