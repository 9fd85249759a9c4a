#include "base/base64.h"

#include <gtest/gtest.h>

namespace mael {
namespace {

TEST(Base64, RoundTripsEveryPaddingLength) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("user:pa:ss"), std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
}

TEST(Base64, DecodesUrlSafeAndSkipsWhitespace) {
  EXPECT_EQ(base64_decode("-_8=\n"), base64_decode("+/8="));
  EXPECT_EQ(base64_decode("dXNl\ncjpw\nYXNz"), "user:pass");
}

}  // namespace
}  // namespace mael
