#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <string>

#include "base/error.h"
#include "container/runtime.h"

namespace mael {
namespace {

TEST(CheckSupport, PassesHere) { EXPECT_NO_THROW(Runtime::check_support()); }

// A seccomp filter that refuses clone/unshare with CLONE_NEWUSER (and clone3,
// whose flags it cannot see), as a sandbox without user namespaces would.
void deny_user_namespaces() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    _exit(3);
}

TEST(CheckSupport, NamesTheFixWhenUserNamespacesAreDenied) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(p[0]);
    deny_user_namespaces();
    std::string message = "no error";
    try {
      Runtime::check_support();
    } catch (const UserError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      message = std::string("wrong exception: ") + e.what();
    }
    [[maybe_unused]] auto n = write(p[1], message.data(), message.size());
    _exit(0);
  }
  close(p[1]);
  std::string message;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(message.find("user namespaces (clone(CLONE_NEWUSER): Operation not permitted)"), std::string::npos)
      << message;
  EXPECT_NE(message.find("user.max_user_namespaces"), std::string::npos) << message;
  EXPECT_NE(message.find("apparmor_restrict_unprivileged_userns"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

// The whole runtime suite again as an unprivileged user (nobody), when we can.
TEST(Unprivileged, RuntimeSuitePassesAsNobody) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(len, 0);
  exe[len] = 0;
  std::string cmd = std::string("cd / && TMPDIR=/tmp /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ") +
                    exe + " --gtest_filter='Pool/*:CheckSupport.PassesHere' --gtest_brief=1 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = pclose(f);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("[  PASSED  ]"), std::string::npos) << out;
}

}  // namespace
}  // namespace mael
