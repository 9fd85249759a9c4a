#include "container/pty.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "base/error.h"

namespace mael {
namespace {

// Reads exactly n bytes (a pty hands them over in pieces as they come).
std::string read_n(int fd, size_t n) {
  std::string got;
  char buf[64];
  while (got.size() < n) {
    ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - got.size()));
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

TEST(ParseEscapeChar, AcceptsTheThreeForms) {
  EXPECT_EQ(parse_escape_char("~", "test"), '~');
  EXPECT_EQ(parse_escape_char("^]", "test"), 0x1d);
  EXPECT_EQ(parse_escape_char("^c", "test"), 0x03);
  EXPECT_EQ(parse_escape_char("^?", "test"), 0x7f);
  EXPECT_EQ(parse_escape_char("\\n", "test"), '\n');
  EXPECT_EQ(parse_escape_char("\\x1D", "test"), 0x1d);
}

TEST(ParseEscapeChar, RejectsOthersNamingTheSource) {
  for (const char* bad : {"", "ab", "^1", "\\x", "\\x1g", "\\q", "\xc3\xa9"}) {
    try {
      parse_escape_char(bad, "--escape-char");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("--escape-char"), std::string::npos) << e.what();
    }
  }
}

TEST(EscapeFilter, PassesOrdinaryBytesAndDoubledEscape) {
  EscapeFilter f(0x1d);
  std::string out;
  size_t used = 0;
  EXPECT_EQ(f.feed("ab\x1d\x1d"
                   "c\x1dx",
                   out, &used),
            EscapeFilter::Action::None);
  EXPECT_EQ(used, 7u);
  EXPECT_EQ(out,
            "ab\x1d"
            "c\x1dx");
  EXPECT_FALSE(f.pending());
}

TEST(EscapeFilter, ActionsAndPendingEscapeAcrossChunks) {
  EscapeFilter f(0x1d);
  std::string out;
  size_t used = 0;
  EXPECT_EQ(f.feed("a\x1d", out, &used), EscapeFilter::Action::None);
  EXPECT_TRUE(f.pending());
  EXPECT_EQ(f.feed("\x03rest", out, &used), EscapeFilter::Action::Kill);
  EXPECT_EQ(used, 1u);
  EXPECT_EQ(f.feed("\x1d\x1a"
                   "z",
                   out, &used),
            EscapeFilter::Action::Suspend);
  EXPECT_EQ(used, 2u);
  EXPECT_EQ(out, "a");
  f.feed("\x1d", out, &used);
  f.flush(out);  // timed out: the escape goes to the job
  EXPECT_EQ(out, "a\x1d");
  EXPECT_FALSE(f.pending());
}

TEST(Pty, WindowSizeAndRawModeRoundTrip) {
  Pty pty = open_pty(WindowSize{33, 101});
  EXPECT_EQ(window_size(pty.slave.get()), (WindowSize{33, 101}));
  EXPECT_TRUE(::isatty(pty.slave.get()));
  termios before{}, during{}, after{};
  ASSERT_EQ(::tcgetattr(pty.slave.get(), &before), 0);
  {
    RawTerminal raw(pty.slave.get());
    ASSERT_EQ(::tcgetattr(pty.slave.get(), &during), 0);
    EXPECT_EQ(during.c_lflag & (ECHO | ICANON | ISIG), 0u);
  }
  ASSERT_EQ(::tcgetattr(pty.slave.get(), &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
  EXPECT_THROW({ RawTerminal bad(-1); }, std::system_error);
}

// A "user" pty and a "job" pty with what relay_terminal needs besides them: the
// job-done eventfd and a signalfd (SIGUSR2 blocked while the test runs).
class RelayTerminal : public ::testing::Test {
 protected:
  void SetUp() override {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    sfd = ::signalfd(-1, &signals_, SFD_CLOEXEC);
    done = ::eventfd(0, EFD_CLOEXEC);
  }
  void TearDown() override {
    for (int fd : {done, sfd}) ::close(fd);
    pthread_sigmask(SIG_UNBLOCK, &signals_, nullptr);
  }
  RelayEnd relay(RawTerminal& raw) {
    return relay_terminal(user.slave.get(), user.slave.get(), job.master.get(), done, sfd, 0x1d, raw);
  }

  Pty user, job;
  int done = -1, sfd = -1;

 private:
  sigset_t signals_;
};

// Typed bytes reach the job, the job's output reaches the user, the escape sequence ends it.
TEST_F(RelayTerminal, ForwardsBothWaysAndStopsOnEscapeKill) {
  user = open_pty(WindowSize{24, 80});
  job = open_pty(WindowSize{10, 10});
  // Make the job's side raw so that bytes pass unchanged.
  RawTerminal job_raw(job.slave.get());
  RawTerminal raw(user.slave.get());  // before anything is typed: no echo, no line buffering
  RelayEnd end;
  std::thread relay_thread([&] { end = relay(raw); });
  EXPECT_EQ(::write(user.master.get(), "hi", 2), 2);
  EXPECT_EQ(read_n(job.slave.get(), 2), "hi");
  EXPECT_EQ(::write(job.slave.get(), "out", 3), 3);
  EXPECT_EQ(read_n(user.master.get(), 3), "out");
  EXPECT_EQ(::write(user.master.get(), "\x1d\x03", 2), 2);  // always: the thread must end
  relay_thread.join();
  EXPECT_EQ(end.kind, RelayEnd::EscapeKill);
  raw.restore();
  job_raw.restore();
}

TEST_F(RelayTerminal, EndsWhenTheJobIsDone) {
  user = open_pty(std::nullopt);
  job = open_pty(std::nullopt);
  ASSERT_EQ(::write(job.slave.get(), "last", 4), 4);
  uint64_t one = 1;
  ASSERT_EQ(::write(done, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  RawTerminal raw(user.slave.get());
  EXPECT_EQ(relay(raw).kind, RelayEnd::JobDone);
  char buf[16] = {};
  ASSERT_EQ(::read(user.master.get(), buf, sizeof buf), 4);  // drained before returning
  EXPECT_EQ(std::string(buf, 4), "last");
  raw.restore();
}

}  // namespace
}  // namespace mael
