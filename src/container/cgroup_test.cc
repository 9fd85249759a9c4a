#include "container/cgroup.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace mael {
namespace {

namespace fs = std::filesystem;

// A runtime killed with SIGKILL cannot remove its cgroups: the next one does, and only those of
// processes that are gone.
TEST(JobCgroups, TheNextRuntimeRemovesWhatAKilledOneLeft) {
  std::unique_ptr<JobCgroups> found = JobCgroups::detect();
  if (!found) GTEST_SKIP() << "no cgroup for memory limits here";
  pid_t dead = ::fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  fs::path left = found->parent() / ("maelstrom-job-" + std::to_string(dead) + "-1");
  fs::path live = found->parent() / ("maelstrom-job-" + std::to_string(::getpid()) + "-999999");
  fs::path other = found->parent() / ("maelstrom-jobs-" + std::to_string(dead));  // not ours: kept
  for (const fs::path& d : {left, live, other}) ASSERT_EQ(::mkdir(d.c_str(), 0755), 0) << d;
  JobCgroups next(found->parent(), found->version());
  EXPECT_FALSE(fs::exists(left));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  ::rmdir(live.c_str());
  ::rmdir(other.c_str());
}

}  // namespace
}  // namespace mael
