#pragma once
// What a tty job's socket carries toward the job (Maelstrom's framing, so that its clients and
// ours agree): the user's bytes with 0xff doubled, and window size changes as
// 0xff 0x00 ROWS COLUMNS (big-endian 16 bits each). The job's output comes back unframed.
#include <functional>
#include <string>
#include <string_view>

#include "container/pty.h"

namespace mael {

std::string encode_tty_input(std::string_view bytes);
std::string encode_window_size_change(WindowSize size);

// Splits the stream into input bytes and window size changes; a frame cut between two reads is
// kept until the rest comes.
class TtyInputDecoder {
 public:
  void feed(std::string_view in, const std::function<void(std::string_view)>& input,
            const std::function<void(WindowSize)>& resize);

 private:
  std::string pending_;  // an unfinished frame: at most 5 bytes
};

}  // namespace mael
