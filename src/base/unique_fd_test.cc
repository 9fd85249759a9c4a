#include "base/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace mael {
namespace {

bool is_open(int fd) {
  return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

TEST(UniqueFd, ClosesOnDestructionAndReset) {
  int raw = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(fd.get(), raw);
  }
  EXPECT_FALSE(is_open(raw));

  UniqueFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int first = fd.get();
  fd.reset(open("/dev/zero", O_RDONLY | O_CLOEXEC));  // opened before the first is closed
  int second = fd.get();
  EXPECT_GE(second, 0);
  EXPECT_NE(second, first);
  EXPECT_FALSE(is_open(first));
  fd.reset();
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(is_open(second));
}

TEST(UniqueFd, MovesAndReleasesOwnership) {
  UniqueFd a(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
  int released = c.release();
  EXPECT_EQ(released, raw);
  EXPECT_FALSE(c.valid());
  EXPECT_TRUE(is_open(raw));  // the caller closes it now
  close(released);
}

TEST(UniqueFd, PipeEndsAreOwnedAndConnected) {
  int read_end, write_end;
  {
    Pipe p = open_pipe();
    read_end = p.read.get();
    write_end = p.write.get();
    EXPECT_TRUE(fcntl(read_end, F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(write(p.write.get(), "x", 1), 1);
    p.write.reset();
    char c[2];
    EXPECT_EQ(read(p.read.get(), c, 2), 1);  // then EOF: the write end is closed
    EXPECT_EQ(read(p.read.get(), c, 2), 0);
  }
  EXPECT_FALSE(is_open(read_end));
  EXPECT_FALSE(is_open(write_end));
}

}  // namespace
}  // namespace mael
