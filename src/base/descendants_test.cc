#include "base/descendants.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace mael {
namespace {

bool contains(const std::vector<pid_t>& v, pid_t p) { return std::find(v.begin(), v.end(), p) != v.end(); }

TEST(Descendants, ChildrenAndTheirChildrenAreFoundAndEnded) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A child that starts a grandchild ignoring SIGTERM, tells its pid, then waits for it.
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::signal(SIGTERM, SIG_IGN);
      for (;;) ::pause();
    }
    (void)!::write(ready[1], &grandchild, sizeof grandchild);
    ::waitpid(grandchild, nullptr, 0);
    ::_exit(0);
  }
  ::close(ready[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(ready[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  ::close(ready[0]);
  std::vector<pid_t> found = descendant_processes();
  EXPECT_TRUE(contains(found, child));
  EXPECT_TRUE(contains(found, grandchild));
  EXPECT_FALSE(contains(found, ::getpid()));
  EXPECT_FALSE(contains(found, ::getppid()));

  // The child ends on SIGTERM; the grandchild ignores it and is killed after the grace period.
  end_descendants(SIGTERM, std::chrono::milliseconds(200));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) || WIFEXITED(status));
  for (int i = 0; i < 100 && ::kill(grandchild, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // reaped by init
  EXPECT_FALSE(contains(descendant_processes(), grandchild));
  EXPECT_TRUE(descendant_processes().empty());
}

}  // namespace
}  // namespace mael
