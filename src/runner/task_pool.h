#pragma once
// A few worker threads for a test runner's discovery: each test binary is listed and its jobs
// submitted on a worker, so binaries are handled side by side and the thread reading the build
// never waits for them. The first exception a task throws is kept; later tasks are skipped
// once one failed, and wait() rethrows it.
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mael {

class TaskPool {
 public:
  explicit TaskPool(size_t threads);
  ~TaskPool();  // waits for the queued tasks (their errors are dropped)
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void post(std::function<void()> task);
  // True once a task threw.
  bool failed() const;
  // Waits until every posted task ran (or was skipped); rethrows the first task's exception.
  void wait();

 private:
  void loop();

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> queue_;
  size_t busy_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace mael
