#include "store/tree_walk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/error.h"
#include "base/fd_io.h"
#include "base/test_temp_dir.h"
#include "store/fs_util.h"
#include "store/test_tar_util.h"

namespace fs = std::filesystem;
using namespace mael;
using namespace mael::testing;

namespace {

UniqueFd open_dir(const fs::path& p) {
  UniqueFd fd(open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("open " + p.string());
  return fd;
}

// Makes `levels` nested directories "d" below dir_fd (names past PATH_MAX), by fd.
void make_deep(int dir_fd, int levels, const char* leaf_text) {
  UniqueFd cur(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  for (int i = 0; i < levels; ++i) {
    ASSERT_EQ(mkdirat(cur.get(), "d", 0755), 0);
    cur.reset(openat(cur.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  UniqueFd f(openat(cur.get(), "leaf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  write_all(f.get(), leaf_text, strlen(leaf_text), "write");
}

TEST(DirCursor, MovesBetweenPathsAndMakesMissingDirectories) {
  TempDir t;
  UniqueFd top = open_dir(t.path());
  std::vector<std::string> created;
  DirCursor c(top.get(), [&](const std::string& rel, int, const std::string&) { created.push_back(rel); });
  EXPECT_EQ(c.go("a/b", false), -1);
  ASSERT_GE(c.go("a/b/c", true), 0);
  EXPECT_EQ(created, (std::vector<std::string>{"a", "a/b", "a/b/c"}));
  ASSERT_GE(c.go("a/x", true), 0);
  ASSERT_GE(c.go("", false), 0);
  ASSERT_GE(c.go("a/b/c", false), 0);
  EXPECT_TRUE(fs::is_directory(t.path() / "a/x"));
  fs::create_directory_symlink(t.path() / "a", t.path() / "link");
  EXPECT_THROW(c.go("link/b", true), UserError);
  EXPECT_THROW(c.go("a/../a", true), UserError);
  std::ofstream(t.path() / "file") << "x";
  EXPECT_THROW(c.go("file/sub", true), UserError);
}

TEST(DirCursor, DeepPathsBothWays) {
  TempDir t;
  UniqueFd top = open_dir(t.path());
  std::string deep;
  for (int i = 0; i < 2100; ++i) deep += "d/";
  DirCursor c(top.get());
  int fd = c.go(deep + "x", true);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(mkdirat(fd, "bottom", 0755), 0);
  // Climbing a little is done with "..", and the position holds.
  int up = c.go(deep + "y", true);
  struct stat st;
  EXPECT_EQ(fstatat(up, "../x/bottom", &st, 0), 0);
  ASSERT_GE(c.go("short", true), 0);
  EXPECT_GE(c.go(deep + "x/bottom", false), 0);
}

TEST(RemoveTree, AnyDepthAndAnyModes) {
  TempDir t;
  fs::create_directory(t.path() / "tree");
  make_deep(open_dir(t.path() / "tree").get(), 2100, "x");
  chmod((t.path() / "tree/d").c_str(), 0);
  EXPECT_GT(disk_usage(t.path() / "tree"), 2100u * 512);
  remove_tree(t.path() / "tree");
  EXPECT_FALSE(fs::exists(t.path() / "tree"));
  remove_tree(t.path() / "tree");  // missing: fine
}

TEST(DiskUsage, HardLinksCountOnce) {
  TempDir t;
  fs::create_directory(t.path() / "d");
  std::ofstream(t.path() / "d/a") << std::string(100000, 'a');
  uint64_t one = disk_usage(t.path() / "d");
  fs::create_hard_link(t.path() / "d/a", t.path() / "d/b");
  EXPECT_EQ(disk_usage(t.path() / "d"), one);
}

TEST(RemoveTree, GoesOnPastWhatItCannotRemoveThenSaysWhat) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  TempDir t;
  chmod(t.path().c_str(), 0777);
  fs::path tree = t.path() / "tree";
  fs::create_directories(tree / "theirs");
  std::ofstream(tree / "theirs/stuck") << "x";  // root's, in a root-owned directory
  std::ofstream(tree / "mine") << "x";
  fs::create_directories(tree / "later/sub");
  for (const char* p : {"", "mine", "later", "later/sub"})
    ASSERT_EQ(lchown((tree / p).c_str(), 65534, 65534), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    try {
      remove_tree(tree);
      _exit(3);
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      if (what.find("unlink theirs/stuck: Permission denied") == std::string::npos) _exit(4);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Everything else went.
  EXPECT_TRUE(fs::exists(tree / "theirs/stuck"));
  EXPECT_FALSE(fs::exists(tree / "mine"));
  EXPECT_FALSE(fs::exists(tree / "later"));
}

}  // namespace
