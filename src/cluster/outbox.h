#pragma once
// A queue of messages for one gRPC stream, drained by one writer thread, so
// that neither the broker (holding its lock) nor a worker's job slots ever
// wait on a slow peer or the network.
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

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
  // Blocks for the next messages and takes every one queued (so the writer can
  // hand them to the transport in one go); false once closed and drained.
  bool pop_all(std::deque<T>& out) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return closed_ || !q_.empty(); });
    if (q_.empty()) return false;
    out.swap(q_);
    q_.clear();
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

// Drains an outbox into a gRPC stream until the outbox is closed. Messages
// queued together go out together: all but the last with a buffer hint, so
// gRPC coalesces them into few writes (thousands of small job messages
// otherwise cost one syscall each). After a failed write the rest is dropped.
template <typename Stream, typename T>
std::thread start_writer(Stream* stream, Outbox<T>& out) {
  return std::thread([stream, &out] {
    std::deque<T> batch;
    bool ok = true;
    while (out.pop_all(batch)) {
      for (size_t i = 0; ok && i < batch.size(); ++i)
        ok = i + 1 < batch.size() ? stream->Write(batch[i], grpc::WriteOptions().set_buffer_hint())
                                  : stream->Write(batch[i]);
      batch.clear();
    }
  });
}

}  // namespace mael::cluster
