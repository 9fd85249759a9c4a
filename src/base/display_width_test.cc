#include "base/display_width.h"

#include <gtest/gtest.h>

namespace mael {
namespace {

TEST(DisplayWidth, CountsColumnsNotBytesOrCodePoints) {
  EXPECT_EQ(display_width(""), 0u);
  EXPECT_EQ(display_width("tests::adds"), 11u);
  EXPECT_EQ(display_width("caf\xc3\xa9"), 4u);               // é: two bytes, one column
  EXPECT_EQ(display_width("e\xcc\x81"), 1u);                 // e + combining acute
  EXPECT_EQ(display_width("\xe6\xb5\x8b\xe8\xaf\x95"), 4u);  // 测试: two wide characters
  EXPECT_EQ(display_width("\xed\x95\x9c\xea\xb8\x80"), 4u);  // 한글
  EXPECT_EQ(display_width("\xef\xbc\xa1"), 2u);              // fullwidth A
  EXPECT_EQ(display_width("\xf0\x9f\x9a\x80"), 2u);          // rocket emoji
  EXPECT_EQ(display_width("a\xe2\x80\x8b"
                          "b"),
            2u);                             // zero-width space
  EXPECT_EQ(display_width("\xff\xc3"), 2u);  // invalid bytes: one each
}

}  // namespace
}  // namespace mael
