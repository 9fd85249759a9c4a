#include "base/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "base/test_temp_dir.h"

namespace mael {
namespace {

using namespace std::chrono_literals;

TEST(RunProcess, StdinIsEmptyWithoutInput) {
  ProcessResult r = run_process({"sh", "-c", "cat; echo end"});
  EXPECT_EQ(r.out, "end\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(RunProcess, WritesTheInputThenClosesStdin) {
  ProcessResult r = run_process({"sh", "-c", "cat; echo end"}, RunOptions{.input = "line\n"});
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "line\nend\n");
}

TEST(RunProcess, InputLargerThanAPipeWhileTheChildAnswers) {
  // cat answers as it reads: writing all the input before reading would leave both waiting.
  std::string input(4 << 20, 'x');
  for (size_t i = 0; i < input.size(); i += 4099) input[i] = static_cast<char>('a' + i % 26);
  ProcessResult r = run_process({"cat"}, RunOptions{.input = input});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.out == input) << r.out.size() << " bytes back";
}

TEST(RunProcess, AChildThatDoesNotReadItsInputIsNotAnError) {
  // Our writes fail with EPIPE; SIGPIPE must not end this process.
  ProcessResult r = run_process({"sh", "-c", "exec 0<&-; echo gone; exit 3"},
                                RunOptions{.input = std::string(1 << 20, 'x')});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "gone\n");
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST(RunProcess, TheTimeoutKillsAChildThatDoesNotFinish) {
  // (exec: the killed process is the one holding the pipes.)
  ProcessResult r = run_process({"sh", "-c", "echo started; exec sleep 60"}, RunOptions{.timeout = 200ms});
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.out, "started\n");
  // One that finishes in time is not touched.
  r = run_process({"sh", "-c", "echo quick"}, RunOptions{.timeout = 60s});
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "quick\n");
}

TEST(RunProcess, KeepsAtMostMaxOutputAndDrainsTheRest) {
  // 1 MiB on each stream: the child only finishes if everything is read.
  ProcessResult r =
      run_process({"sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero >&2"},
                  RunOptions{.max_output = 10});
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "aaaaaaaaaa");
  EXPECT_EQ(r.err, std::string(10, '\0'));
}

TEST(RunProcess, RunsInTheGivenDirectory) {
  testing::ScratchDir dir;
  ProcessResult r = run_process({"pwd"}, RunOptions{.cwd = dir.path()});
  EXPECT_EQ(r.out, std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(RunProcess, AMissingProgramIsProgramNotFound) {
  EXPECT_THROW(run_process({"mael-no-such-program"}), ProgramNotFound);
  EXPECT_THROW(run_process({"/nonexistent/program"}, RunOptions{.input = "x"}), ProgramNotFound);
  try {
    run_process({"mael-no-such-program"});
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot run 'mael-no-such-program': No such file or directory (is it installed and on PATH?)");
  }
}

TEST(ChildProcess, StdinPipeIsTheCallers) {
  ChildProcess child({"sh", "-c", "read line; echo \"got $line\""}, ChildOptions{.stdin_pipe = true});
  ASSERT_GE(child.stdin_fd(), 0);
  ASSERT_EQ(write(child.stdin_fd(), "hello\n", 6), 6);
  child.close_stdin();
  EXPECT_EQ(child.stdin_fd(), -1);
  EXPECT_EQ(read_all(child.stdout_fd()), "got hello\n");
  EXPECT_EQ(child.wait(), 0);
}

// A program another thread has just written may still be open for writing (a descriptor
// inherited by a child forked meanwhile, until it execs): starting it waits for that to pass.
TEST(RunProcess, AProgramStillOpenForWritingIsStartedOnceItIsClosed) {
  testing::ScratchDir dir;
  std::filesystem::path prog = dir.path() / "prog.sh";
  int fd = ::open(prog.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  ASSERT_GE(fd, 0);
  std::string text = "#!/bin/sh\necho started\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  std::thread closer([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::close(fd);
  });
  ProcessResult r;
  EXPECT_NO_THROW(r = run_process({prog.string()}));  // before: "Text file busy"
  closer.join();
  EXPECT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, "started\n");
}

TEST(CopyFileContents, CopiesBytesWithTheModeAndNamesAMissingFile) {
  testing::ScratchDir dir;
  std::filesystem::path from = dir.write("a.bin", std::string("bytes\0more", 10));
  std::filesystem::path to = dir.path() / "b.bin";
  copy_file_contents(from.string(), to.string(), 0755);
  int fd = ::open(to.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(read_all(fd), std::string("bytes\0more", 10));
  ::close(fd);
  EXPECT_EQ(std::filesystem::status(to).permissions() & std::filesystem::perms::owner_exec,
            std::filesystem::perms::owner_exec);
  try {
    copy_file_contents((dir.path() / "none").string(), to.string(), 0755);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("none"), std::string::npos);
  }
}

}  // namespace
}  // namespace mael

namespace mael {
namespace {

TEST(ChildProcess, KillFromAnotherThreadWhileOneWaits) {
  ChildProcess sleeper({"sleep", "60"});
  int code = -1;
  std::thread waiter([&] { code = sleeper.wait(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // (either order must work)
  sleeper.kill();
  waiter.join();
  EXPECT_EQ(code, 128 + SIGKILL);
  EXPECT_EQ(sleeper.term_signal(), SIGKILL);
  sleeper.kill();  // reaped: nothing to signal, no error
  EXPECT_EQ(sleeper.wait(), 128 + SIGKILL);
}

}  // namespace
}  // namespace mael
