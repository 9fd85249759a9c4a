#include "base/toml_bounds.h"

#include <gtest/gtest.h>

#include <string>

#include "base/input_limits.h"
#include "base/test_errors.h"

namespace mael {
namespace {

std::string error_of(const std::string& text) {
  return testing::user_error_of([&] { check_toml_bounds(text, "spec.toml"); });
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kTooDeep =
    "tables and arrays nested more than 128 levels deep (the limit; each part of a dotted key is a level)";

TEST(TomlBounds, DottedKeysAndHeadersCountEveryPart) {
  // A value 128 levels down is fine; one more level is not.
  EXPECT_EQ(error_of(repeat("a.", 127) + "b = 1\n"), "no error");
  EXPECT_EQ(error_of("x = 1\n" + repeat("a.", 128) + "b = 1\n"), "spec.toml: line 2: " + kTooDeep);
  EXPECT_EQ(error_of("[" + repeat("a.", 1'000'000) + "b]\n"), "spec.toml: line 1: " + kTooDeep);
  // A header's depth adds to its keys'; [[arrays]] add one more.
  EXPECT_EQ(error_of("[" + repeat("a.", 63) + "b]\n" + repeat("c.", 63) + "d = 1\n"), "no error");
  EXPECT_EQ(error_of("[[" + repeat("a.", 63) + "b]]\n" + repeat("c.", 63) + "d = 1\n"),
            "spec.toml: line 2: " + kTooDeep);
  // Each header starts again from the root.
  EXPECT_EQ(error_of(repeat("[" + repeat("a.", 100) + "b]\nx = 1\n", 3)), "no error");
}

TEST(TomlBounds, ArraysAndInlineTables) {
  EXPECT_EQ(error_of("x = " + repeat("[", 127) + repeat("]", 127) + "\n"), "no error");
  EXPECT_EQ(error_of("x = " + repeat("[", 128) + repeat("]", 128) + "\n"), "spec.toml: line 1: " + kTooDeep);
  EXPECT_EQ(error_of("x = " + repeat("{a.b = ", 60) + "1" + repeat("}", 60) + "\n"), "no error");
  EXPECT_EQ(error_of("x = " + repeat("{a.b = ", 70) + "1" + repeat("}", 70) + "\n"),
            "spec.toml: line 1: " + kTooDeep);
  // Elements of one array are side by side, over several lines too.
  EXPECT_EQ(error_of("x = [\n" + repeat("  {a.b.c = [1, 2]},\n", 500) + "]\ny.z = 2\n"), "no error");
}

TEST(TomlBounds, DotsOutsideKeysAreNotLevels) {
  // Floats, times, strings, quoted key parts and comments.
  EXPECT_EQ(error_of("x = [" + repeat("1.5, ", 1000) + "]\n"), "no error");
  EXPECT_EQ(error_of("t = 1979-05-27T07:32:00.999\n"), "no error");
  EXPECT_EQ(error_of("s = \"" + repeat(".", 1000) + "\"\n"), "no error");
  EXPECT_EQ(error_of("\"" + repeat("a.", 1000) + "\" = 1\n"), "no error");
  EXPECT_EQ(error_of("['" + repeat("a.", 1000) + "']\nk = 1\n"), "no error");
  EXPECT_EQ(error_of("# " + repeat("a.", 1000) + "\nk = 1\n"), "no error");
  EXPECT_EQ(error_of("s = \"\"\"\n" + repeat("a.\\\"\"\n", 500) + "\"\"\"\"\"\nk = 1\n"), "no error");
  EXPECT_EQ(error_of("s = '''\n" + repeat("a.b\n", 500) + "'''\nk = 1\n"), "no error");
}

TEST(TomlBounds, Size) {
  EXPECT_EQ(error_of(std::string(limits::kMaxTomlBytes + 1, '\n')),
            "spec.toml: longer than 64 MiB (the limit for a TOML file)");
  EXPECT_EQ(error_of(std::string(limits::kMaxTomlBytes, '\n')), "no error");
}

}  // namespace
}  // namespace mael
