#include "base/format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace mael {
namespace {

TEST(Format, PlaceholdersTakeTheArgumentsInOrder) {
  std::string s = "two";
  EXPECT_EQ(format("{} and {} and {}", "one", s, std::string_view("three")), "one and two and three");
  EXPECT_EQ(format("no placeholders"), "no placeholders");
  EXPECT_EQ(format("{}{}", 'a', 'b'), "ab");
}

TEST(Format, NumbersAndBooleans) {
  EXPECT_EQ(format("{} {} {}", -42, 7u, std::numeric_limits<uint64_t>::max()), "-42 7 18446744073709551615");
  EXPECT_EQ(format("{}", std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(format("{} {}", 0.5, 2.0), "0.5 2");
  EXPECT_EQ(format("{}", 0.1f), "0.1");
  EXPECT_EQ(format("{} {}", true, false), "true false");
  EXPECT_EQ(format("{}", static_cast<unsigned char>(200)), "200");
}

TEST(Format, DoubledBracesAreLiteral) {
  EXPECT_EQ(format("{{{}}} }}{{", 1), "{1} }{");
}

TEST(Format, FormatSpecs) {
  EXPECT_EQ(format("{:.1f} ms", 12.345), "12.3 ms");
  EXPECT_EQ(format("[{:>5}]", "ab"), "[   ab]");
  EXPECT_EQ(format("{:08x}", 0xbeefu), "0000beef");
}

TEST(Format, CStrings) {
  const char* p = nullptr;
  EXPECT_EQ(format("[{}]", p), "[(null)]");
  char buf[] = "mutable";
  EXPECT_EQ(format("[{}]", buf), "[mutable]");
  char* q = buf;
  EXPECT_EQ(format("[{}]", q), "[mutable]");
}

// A format error at run time (a spec that does not fit its argument) is fmt's exception.
TEST(Format, SpecMismatchThrows) { EXPECT_ANY_THROW(format("{:.1f}", "text")); }

// The compile-time check (a mismatch would not compile, so it is tested as constant expressions).
static_assert(format_detail::count_placeholders("{} {}") == 2);
static_assert(format_detail::count_placeholders("{{}}") == 0);
static_assert(format_detail::count_placeholders("{:.1f} {:>5}") == 2);
static_assert(format_detail::count_placeholders("a } b") == -1);
static_assert(format_detail::count_placeholders("{") == -1);
static_assert(format_detail::count_placeholders("{{}") == -1);

}  // namespace
}  // namespace mael
