#include "container/tty_stream.h"

#include <gtest/gtest.h>

#include <vector>

namespace mael {
namespace {

struct Seen {
  std::string input;
  std::vector<WindowSize> sizes;
};

Seen decode_in_pieces(const std::string& stream, size_t piece) {
  Seen s;
  TtyInputDecoder d;
  for (size_t i = 0; i < stream.size(); i += piece)
    d.feed(std::string_view(stream).substr(i, piece), [&](std::string_view b) { s.input += b; },
           [&](WindowSize w) { s.sizes.push_back(w); });
  return s;
}

TEST(TtyStream, EncodesAsMaelstromDoes) {
  EXPECT_EQ(encode_tty_input("ab"), "ab");
  EXPECT_EQ(encode_tty_input("\xff"), "\xff\xff");
  EXPECT_EQ(encode_tty_input("a\xff\xff"
                             "b"),
            "a\xff\xff\xff\xff"
            "b");
  EXPECT_EQ(encode_window_size_change({24, 80}), std::string("\xff\0\0\x18\0\x50", 6));
  EXPECT_EQ(encode_window_size_change({0x1234, 0xabcd}), std::string("\xff\0\x12\x34\xab\xcd", 6));
}

// Whatever the reads' sizes, the input and the window sizes come out as they went in.
TEST(TtyStream, DecodesWhatWasEncodedWhateverTheReadsSizes) {
  std::string typed = std::string("ls -l\r\xff\x01\xff", 9);
  std::string stream = encode_tty_input(typed) + encode_window_size_change({50, 132}) + encode_tty_input("x") +
                       encode_window_size_change({0xff00, 0x00ff});
  for (size_t piece : {1, 2, 3, 5, 7, 100}) {
    Seen s = decode_in_pieces(stream, piece);
    EXPECT_EQ(s.input, typed + "x") << piece;
    EXPECT_EQ(s.sizes, (std::vector<WindowSize>{{50, 132}, {0xff00, 0x00ff}})) << piece;
  }
}

TEST(TtyStream, AnUnframedEscapeIsInputAsInMaelstrom) {
  Seen s = decode_in_pieces("a\xff\x07z", 100);
  EXPECT_EQ(s.input, "a\xff\x07z");
  EXPECT_TRUE(s.sizes.empty());
}

}  // namespace
}  // namespace mael
