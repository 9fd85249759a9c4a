#include "base/digest.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace mael {

TEST(Digest, KnownVector) {
  EXPECT_EQ(Digest::of_bytes("abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Digest::of_bytes("").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, HexRoundTrip) {
  Digest d = Digest::of_bytes("hello");
  EXPECT_EQ(Digest::from_hex(d.hex()), d);
  EXPECT_EQ(Digest::from_hex("sha256:" + d.hex()), d);
}

TEST(Digest, IncrementalMatchesOneShot) {
  Sha256 h;
  h.update("hel");
  h.update("lo");
  EXPECT_EQ(h.finish(), Digest::of_bytes("hello"));
}

TEST(Digest, RejectsBadHex) {
  EXPECT_THROW(Digest::from_hex("abc"), UserError);
  EXPECT_THROW(Digest::from_hex(std::string(64, 'z')), UserError);
}

}  // namespace mael
