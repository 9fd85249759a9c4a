#pragma once
// Download progress: one bar per image on stderr when it is a terminal,
// redrawn a few times a second by a thread while any bar is active.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace mael {

class ProgressBoard {
 public:
  class Bar {
   public:
    explicit Bar(std::string label) : label_(std::move(label)) {}
    void add_total(int64_t n) { total_ += n; }
    void add_done(int64_t n) { done_ += n; }
    std::string render(int width) const;

   private:
    friend class ProgressBoard;
    std::string label_;
    std::atomic<int64_t> total_{0};
    std::atomic<int64_t> done_{0};
    bool finished_ = false;
  };

  // Draws only when `enabled` and stderr is a terminal.
  explicit ProgressBoard(bool enabled);
  ~ProgressBoard();
  ProgressBoard(const ProgressBoard&) = delete;
  ProgressBoard& operator=(const ProgressBoard&) = delete;

  // A new bar (always usable, even when nothing is drawn).
  std::shared_ptr<Bar> start(const std::string& label);
  // Draws the bar's last state once and removes it.
  void finish(const std::shared_ptr<Bar>& bar);

 private:
  void loop();
  void draw_locked(bool final_for_finished);

  bool enabled_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::shared_ptr<Bar>> bars_;
  int lines_drawn_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

// "12.3 MiB"
std::string format_bytes(int64_t n);

}  // namespace mael
