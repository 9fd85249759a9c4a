#pragma once
// A queue of messages for one gRPC stream, drained by one writer thread, so
// that the broker never blocks on a slow peer while holding its lock.
#include <condition_variable>
#include <deque>
#include <mutex>

namespace mael::cluster {

template <typename T>
class Outbox {
 public:
  // Dropped silently once closed.
  void push(T m) {
    {
      std::lock_guard lk(mu_);
      if (closed_) return;
      q_.push_back(std::move(m));
    }
    cv_.notify_one();
  }
  // Blocks for the next message; false once closed and drained.
  bool pop(T& out) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return closed_ || !q_.empty(); });
    if (q_.empty()) return false;
    out = std::move(q_.front());
    q_.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  size_t size() const {
    std::lock_guard lk(mu_);
    return q_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;
  bool closed_ = false;
};

}  // namespace mael::cluster
