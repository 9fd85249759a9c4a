#include "cluster/peer_text.h"

#include <gtest/gtest.h>

namespace mael::cluster {
namespace {

TEST(PeerText, PlainTextAndUtf8StayAsTheyAre) {
  EXPECT_EQ(peer_text("ci-runner 7"), "ci-runner 7");
  EXPECT_EQ(peer_text("b\xc3\xa9la \xe2\x9c\x93"), "b\xc3\xa9la \xe2\x9c\x93");
}

TEST(PeerText, ControlCharactersAndBadBytesAreEscaped) {
  EXPECT_EQ(peer_text("a\nb\x1b[31mred\\"), "a\\nb\\x1b[31mred\\\\");
  EXPECT_EQ(peer_text("\xff\xc3"), "\\xff\\xc3");
  EXPECT_EQ(peer_text("\xc0\xaf"), "\\xc0\\xaf");  // an overlong '/'
  EXPECT_EQ(peer_text(std::string("nul\0", 4)), "nul\\x00");
}

TEST(PeerText, LongTextIsCut) {
  EXPECT_EQ(peer_text(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
}

}  // namespace
}  // namespace mael::cluster
