#include "runner/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

namespace mael {
namespace {

TEST(TaskPool, RunsEveryTaskAndWaits) {
  std::atomic<int> sum = 0;
  TaskPool pool(3);
  for (int i = 1; i <= 100; ++i) pool.post([&, i] { sum += i; });
  pool.wait();
  EXPECT_EQ(sum.load(), 5050);
  EXPECT_FALSE(pool.failed());
}

TEST(TaskPool, RunsTasksSideBySide) {
  // The first task waits for the second: with one thread at a time this would never finish.
  TaskPool pool(2);
  std::promise<void> second_ran;
  std::shared_future<void> f = second_ran.get_future().share();
  bool first_saw = false;
  pool.post([&] { first_saw = f.wait_for(std::chrono::seconds(30)) == std::future_status::ready; });
  pool.post([&] { second_ran.set_value(); });
  pool.wait();
  EXPECT_TRUE(first_saw);
}

TEST(TaskPool, KeepsTheFirstErrorAndSkipsLaterTasks) {
  TaskPool pool(1);
  std::atomic<int> ran = 0;
  pool.post([] { throw std::runtime_error("first"); });
  pool.post([] { throw std::runtime_error("second"); });
  pool.post([&] { ++ran; });
  try {
    pool.wait();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_TRUE(pool.failed());
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace mael
