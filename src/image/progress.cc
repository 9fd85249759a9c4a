#include "image/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace mael {

std::string format_bytes(int64_t n) {
  char buf[32];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
  } else if (n < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else if (n < int64_t{1024} * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1024 * 1024 * 1024));
  }
  return buf;
}

std::string ProgressBoard::Bar::render(int width) const {
  int64_t total = total_.load();
  int64_t done = done_.load();
  double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
  if (frac > 1) frac = 1;
  int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), ' ');
  return label_ + " [" + bar + "] " + format_bytes(done) + "/" + format_bytes(total);
}

ProgressBoard::ProgressBoard(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) == 1) {}

ProgressBoard::~ProgressBoard() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<ProgressBoard::Bar> ProgressBoard::start(const std::string& label) {
  auto bar = std::make_shared<Bar>(label);
  if (!enabled_) return bar;
  std::lock_guard lock(mu_);
  bars_.push_back(bar);
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  return bar;
}

void ProgressBoard::finish(const std::shared_ptr<Bar>& bar) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  bar->finished_ = true;
  draw_locked(true);
}

void ProgressBoard::draw_locked(bool final_for_finished) {
  std::string out;
  if (lines_drawn_ > 0) out += "\x1b[" + std::to_string(lines_drawn_) + "A";
  out += "\x1b[J";
  lines_drawn_ = 0;
  // Finished bars are printed once more and then scroll away as plain lines.
  for (auto it = bars_.begin(); it != bars_.end();) {
    if ((*it)->finished_ && final_for_finished) {
      out += (*it)->render(30) + "\n";
      it = bars_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& b : bars_) {
    out += b->render(30) + "\n";
    ++lines_drawn_;
  }
  (void)!::write(STDERR_FILENO, out.data(), out.size());
}

void ProgressBoard::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stop_) break;
    if (!bars_.empty()) draw_locked(false);
  }
}

}  // namespace mael
