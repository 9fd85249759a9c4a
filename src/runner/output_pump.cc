#include "runner/output_pump.h"

#include <unistd.h>

#include <cerrno>

namespace mael {

OutputPump::OutputPump(int fd, ChunkFn on_chunk)
    : thread_([this, fd, on_chunk = std::move(on_chunk)] {
        char buf[8192];
        for (;;) {
          ssize_t n = read(fd, buf, sizeof buf);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          std::string_view chunk(buf, static_cast<size_t>(n));
          std::string recent;
          {
            std::lock_guard lk(mu_);
            size_t from = text_.size() > 64 ? text_.size() - 64 : 0;
            recent = text_.substr(from);
            text_.append(chunk);
          }
          recent.append(chunk);
          if (on_chunk) on_chunk(chunk, recent);
        }
      }) {}

OutputPump::~OutputPump() { join(); }

void OutputPump::join() {
  if (thread_.joinable()) thread_.join();
}

std::string OutputPump::text() {
  std::lock_guard lk(mu_);
  return text_;
}

void for_each_line(int fd, const std::function<bool(std::string_view)>& f) {
  std::string pending;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!f(std::string_view(pending).substr(start, nl - start))) return;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) f(pending);
}

}  // namespace mael
