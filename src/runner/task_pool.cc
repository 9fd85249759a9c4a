#include "runner/task_pool.h"

namespace mael {

TaskPool::TaskPool(size_t threads) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

TaskPool::~TaskPool() {
  {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return queue_.empty() && busy_ == 0; });
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::post(std::function<void()> task) {
  {
    std::lock_guard lk(mu_);
    queue_.push_back(std::move(task));
  }
  work_cv_.notify_one();
}

bool TaskPool::failed() const {
  std::lock_guard lk(mu_);
  return error_ != nullptr;
}

void TaskPool::wait() {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return queue_.empty() && busy_ == 0; });
  if (error_) std::rethrow_exception(error_);
}

void TaskPool::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    if (error_) {  // a task failed: skip the rest
      if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
      continue;
    }
    ++busy_;
    lk.unlock();
    std::exception_ptr e;
    try {
      task();
    } catch (...) {
      e = std::current_exception();
    }
    task = nullptr;  // drop captures outside the lock
    lk.lock();
    if (e && !error_) error_ = e;
    --busy_;
    if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
  }
}

}  // namespace mael
