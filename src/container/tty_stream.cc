#include "container/tty_stream.h"

namespace mael {

std::string encode_tty_input(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    out += c;
    if (static_cast<unsigned char>(c) == 0xff) out += c;
  }
  return out;
}

std::string encode_window_size_change(WindowSize size) {
  return {'\xff', '\0', static_cast<char>(size.rows >> 8), static_cast<char>(size.rows & 0xff),
          static_cast<char>(size.columns >> 8), static_cast<char>(size.columns & 0xff)};
}

void TtyInputDecoder::feed(std::string_view in, const std::function<void(std::string_view)>& input,
                           const std::function<void(WindowSize)>& resize) {
  std::string joined;
  if (!pending_.empty()) {
    joined = pending_ + std::string(in);
    pending_.clear();
    in = joined;
  }
  auto byte = [&](size_t i) { return static_cast<unsigned char>(in[i]); };
  while (!in.empty()) {
    if (byte(0) != 0xff) {
      size_t next = in.find('\xff');
      if (next == std::string_view::npos) next = in.size();
      input(in.substr(0, next));
      in.remove_prefix(next);
    } else if (in.size() == 1 || (byte(1) == 0 && in.size() < 6)) {
      pending_ = std::string(in);  // the rest of the frame is still to come
      return;
    } else if (byte(1) == 0xff) {
      input(in.substr(0, 1));
      in.remove_prefix(2);
    } else if (byte(1) == 0) {
      resize({static_cast<uint16_t>(byte(2) << 8 | byte(3)), static_cast<uint16_t>(byte(4) << 8 | byte(5))});
      in.remove_prefix(6);
    } else {
      input(in.substr(0, 2));  // 0xff and another byte: both are input, as Maelstrom reads them
      in.remove_prefix(2);
    }
  }
}

}  // namespace mael
