#include "container/runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "container/pty.h"
#include "container/test_rootfs.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string describe(const JobOutcome& o) {
  std::ostringstream s;
  if (auto* e = std::get_if<Exited>(&o.result)) s << "exited " << e->code;
  if (auto* g = std::get_if<Signaled>(&o.result)) s << "signal " << g->signal;
  if (std::holds_alternative<TimedOut>(o.result)) s << "timed out";
  if (auto* j = std::get_if<JobError>(&o.result))
    s << (j->kind == JobErrorKind::Execution ? "execution error: " : "system error: ") << j->message;
  s << " | stdout=" << o.effects.stdout_.first << " | stderr=" << o.effects.stderr_.first;
  return s.str();
}

std::string error_of(const JobOutcome& o, JobErrorKind kind = JobErrorKind::Execution) {
  auto* e = std::get_if<JobError>(&o.result);
  if (!e) return "not an error: " + describe(o);
  if (e->kind != kind) return "wrong kind: " + describe(o);
  return e->message;
}

// Whether a process whose command line contains `marker` runs on the host.
bool process_with_marker(const std::string& marker) {
  for (auto& entry : fs::directory_iterator("/proc")) {
    int fd = ::open((entry.path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // not a process, or gone
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n > 0 && std::string(buf, static_cast<size_t>(n)).find(marker) != std::string::npos) return true;
  }
  return false;
}

class RuntimeTest : public ::testing::TestWithParam<size_t> {
 protected:
  RuntimeTest() : runtime_(scratch_.path(), RuntimeOptions{GetParam()}) {
    testing::make_busybox_root(root_.path());
  }

  ContainerConfig sh(const std::string& script) {
    ContainerConfig c;
    c.lower_dirs = {root_.path()};
    c.program = "sh";
    c.arguments = {"-c", script};
    return c;
  }
  JobOutcome run(const ContainerConfig& c, const CancelToken* cancel = nullptr) {
    for (auto& d : c.lower_dirs) testing::own_for_jobs(d);
    return runtime_.run(c, cancel);
  }

  // Runs a script that must exit 0; returns its stdout.
  std::string output(const ContainerConfig& c) {
    JobOutcome o = run(c);
    auto* e = std::get_if<Exited>(&o.result);
    EXPECT_TRUE(e && e->code == 0) << describe(o);
    return o.effects.stdout_.first;
  }

  TempDir root_, scratch_;
  Runtime runtime_;
};

TEST_P(RuntimeTest, ExitCodes) {
  auto o = run(sh("exit 3"));
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_EQ(std::get<Exited>(o.result).code, 3);
  EXPECT_EQ(output(sh("true")), "");
  EXPECT_GT(o.effects.duration.count(), 0);
}

TEST_P(RuntimeTest, KernelSignalEndsTheJob) {
  // The job is PID 1 of its namespace: signals it sends itself are ignored,
  // but a fault (here a stack overflow) still kills it.
  auto o = run(sh("ulimit -s 256; f() { f; }; f"));
  ASSERT_TRUE(std::holds_alternative<Signaled>(o.result)) << describe(o);
  EXPECT_EQ(std::get<Signaled>(o.result).signal, SIGSEGV);
}

TEST_P(RuntimeTest, JobLeadsItsSessionUnderOurInit) {
  // Field 6 of /proc/PID/stat is the session id: the job's own pid. PID 1 is
  // our init.
  auto c = sh("echo $$; read -r line < /proc/$$/stat; set -- $line; echo $6; cat /proc/1/comm");
  c.mounts = {Mount{MountType::Proc, "/proc"}};
  EXPECT_EQ(output(c), "2\n2\nmaelstrom-init\n");
}

// The kernel drops signals a namespace's init has no handler for: were the
// job PID 1, abort() would end in SIGSEGV and `kill -ABRT $$` do nothing.
TEST_P(RuntimeTest, SignalsEndTheJobAsOnTheHost) {
  for (int sig : {SIGABRT, SIGTERM, SIGINT, SIGUSR1}) {
    auto o = run(sh("kill -" + std::to_string(sig) + " $$; sleep 5"));
    ASSERT_TRUE(std::holds_alternative<Signaled>(o.result)) << sig << ": " << describe(o);
    EXPECT_EQ(std::get<Signaled>(o.result).signal, sig);
  }
}

TEST_P(RuntimeTest, CapturesStdoutAndStderr) {
  auto o = run(sh("echo out; echo err >&2; exit 0"));
  EXPECT_EQ(o.effects.stdout_.first, "out\n");
  EXPECT_EQ(o.effects.stderr_.first, "err\n");
  EXPECT_EQ(o.effects.stdout_.truncated, 0u);
}

TEST_P(RuntimeTest, TruncatesBeyondInlineLimit) {
  auto c = sh("seq 1 10000; seq 1 3 >&2");
  c.inline_limit = 10;
  auto o = run(c);
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  std::string all;
  for (int i = 1; i <= 10000; ++i) all += std::to_string(i) + "\n";
  EXPECT_EQ(o.effects.stdout_.first, all.substr(0, 10));
  EXPECT_EQ(o.effects.stdout_.truncated, all.size() - 10);
  EXPECT_EQ(o.effects.stderr_.first, "1\n2\n3\n");
  EXPECT_EQ(o.effects.stderr_.truncated, 0u);
}

TEST_P(RuntimeTest, StdinIsAtEof) {
  ContainerConfig c = sh("");
  c.program = "cat";
  c.arguments = {};
  auto o = run(c);
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_EQ(std::get<Exited>(o.result).code, 0);
  EXPECT_EQ(o.effects.stdout_.first, "");
}

TEST_P(RuntimeTest, ArgumentsAndEnvironment) {
  ContainerConfig c = sh("");
  c.program = "/bin/sh";
  c.arguments = {"-c", "echo \"$1|$FOO|$BAR\"", "zero", "one two"};
  c.environment = {"FOO=foo value", "BAR="};
  EXPECT_EQ(output(c), "one two|foo value|\n");
}

TEST_P(RuntimeTest, LooksProgramUpOnContainerPath) {
  fs::create_directories(root_.path() / "opt/tools");
  fs::create_symlink("../../bin/busybox", root_.path() / "opt/tools/hello");
  ContainerConfig c = sh("");
  c.program = "hello";  // busybox: "hello: applet not found", exit 127
  c.environment = {"PATH=/nowhere:/opt/tools"};
  auto o = run(c);
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_NE(o.effects.stderr_.first.find("applet not found"), std::string::npos) << describe(o);

  c.program = "id";  // default PATH when the job has none
  c.arguments = {};
  c.environment = {};
  EXPECT_EQ(output(c).substr(0, 6), "uid=0 ");
}

TEST_P(RuntimeTest, ProgramNotFound) {
  ContainerConfig c = sh("");
  c.program = "no-such-program";
  EXPECT_EQ(error_of(run(c)), "program no-such-program not found on PATH");
  c.program = "/bin/no-such-program";
  EXPECT_EQ(error_of(run(c)), "executing /bin/no-such-program: No such file or directory");
  testing::write_file(root_.path() / "bin/not-executable", "#!/bin/sh\n");
  c.program = "/bin/not-executable";
  EXPECT_EQ(error_of(run(c)), "executing /bin/not-executable: Permission denied");
}

TEST_P(RuntimeTest, WorkingDirectory) {
  auto c = sh("pwd");
  c.working_directory = "/etc";
  EXPECT_EQ(output(c), "/etc\n");
  c.working_directory = "/no/such/dir";
  EXPECT_EQ(error_of(run(c)), "working directory /no/such/dir: No such file or directory");
}

TEST_P(RuntimeTest, UserAndGroupAreMapped) {
  auto c = sh("id -u; id -g; stat -c %u /bin/busybox; id -G");
  c.user = 1234;
  c.group = 5678;
  // Files of the caller appear as the job's user; supplementary groups are gone.
  EXPECT_EQ(output(c), "1234\n5678\n1234\n5678\n");
}

TEST_P(RuntimeTest, RootIsReadOnlyUnlessWritable) {
  auto c = sh("touch /new-file");
  auto o = run(c);
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_NE(std::get<Exited>(o.result).code, 0);
  EXPECT_NE(o.effects.stderr_.first.find("Read-only file system"), std::string::npos) << describe(o);

  c.enable_writable_file_system = true;
  c.arguments[1] = "touch /new-file && echo changed > /etc/hostname-in-image && cat /etc/hostname-in-image";
  EXPECT_EQ(output(c), "changed\n");
  // Nothing reached the layer, and the next job starts clean.
  EXPECT_FALSE(fs::exists(root_.path() / "new-file"));
  c.arguments[1] = "test ! -e /new-file && cat /etc/hostname-in-image";
  EXPECT_EQ(output(c), "image\n");
}

TEST_P(RuntimeTest, OverlaysLayersInOrder) {
  TempDir mid, top;
  fs::create_directories(mid.path() / "etc");
  fs::create_directories(top.path() / "etc");
  testing::write_file(mid.path() / "etc/a", "mid\n");
  testing::write_file(mid.path() / "etc/b", "mid\n");
  testing::write_file(top.path() / "etc/b", "top\n");
  auto c = sh("cat /etc/a /etc/b /etc/hostname-in-image");
  c.lower_dirs = {root_.path(), mid.path(), top.path()};
  EXPECT_EQ(output(c), "mid\ntop\nimage\n");
  c.enable_writable_file_system = true;
  c.arguments[1] = "echo w > /etc/a && cat /etc/a /etc/b";
  EXPECT_EQ(output(c), "w\ntop\n");
}

// Whiteouts as the layer extractor writes them: a 0/0 character device hides
// a lower file, and a directory with user.overlay.opaque="y" hides the lower
// directory's contents. (trusted.overlay.* xattrs are not visible to an
// overlay mounted inside a user namespace; overlay reads user.overlay.* with
// the userxattr option, which the runtime always sets.)
TEST_P(RuntimeTest, WhiteoutsInUpperLayerHideLowerFiles) {
  TempDir lower, upper;
  fs::create_directories(lower.path() / "data/dir");
  testing::write_file(lower.path() / "data/gone", "x");
  testing::write_file(lower.path() / "data/kept", "x");
  testing::write_file(lower.path() / "data/dir/old", "x");
  fs::create_directories(upper.path() / "data/dir");
  ASSERT_EQ(::mknod((upper.path() / "data/gone").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0)
      << strerror(errno);
  ASSERT_EQ(::setxattr((upper.path() / "data/dir").c_str(), "user.overlay.opaque", "y", 1, 0), 0)
      << strerror(errno);
  testing::write_file(upper.path() / "data/dir/new", "x");
  auto c = sh("ls /data; echo --; ls /data/dir");
  c.lower_dirs = {root_.path(), lower.path(), upper.path()};
  EXPECT_EQ(output(c), "dir\nkept\n--\nnew\n");
  c.enable_writable_file_system = true;
  EXPECT_EQ(output(c), "dir\nkept\n--\nnew\n");
}

TEST_P(RuntimeTest, SpecialFileSystemMounts) {
  auto c =
      sh("grep -o '^[a-z]* /[a-z/]* [a-z]*' /proc/mounts | sort;"
         "stat -c %a /dev/pts/ptmx; ls /sys/class/net;"
         "echo x > /tmp/f && cat /tmp/f");
  c.mounts = {Mount{MountType::Proc, "/proc"}, Mount{MountType::Tmp, "/tmp"}, Mount{MountType::Sys, "/sys"},
              Mount{MountType::Devpts, "/dev/pts"}, Mount{MountType::Mqueue, "/dev/mqueue"}};
  std::string out = output(c);
  for (const char* line : {"devpts /dev/pts devpts\n", "mqueue /dev/mqueue mqueue\n", "proc /proc proc\n",
                           "sysfs /sys sysfs\n", "tmpfs /tmp tmpfs\n", "666\nlo\nx\n"})
    EXPECT_NE(out.find(line), std::string::npos) << line << " not in:\n" << out;
}

// The job's root is never host root: host-wide sysctls (writable by host uid
// 0 alone, whatever the namespace) stay out of reach, whoever runs us. Every
// write writes back the value just read, so the host cannot change even if
// the check fails.
TEST_P(RuntimeTest, JobCannotWriteHostSysctls) {
  auto c = sh(
      "for f in vm/swappiness kernel/core_pattern; do v=$(cat /proc/sys/$f); "
      "(echo \"$v\" > /proc/sys/$f) 2>/dev/null && echo wrote $f; done; umount /proc/sys 2>/dev/null && echo "
      "unmounted; echo done");
  Mount null{MountType::Devices};
  null.devices = {Device::Null};  // for the 2>/dev/null above
  c.mounts = {Mount{MountType::Proc, "/proc"}, null};
  for (Network n : {Network::Disabled, Network::Loopback, Network::Local}) {
    c.network = n;
    EXPECT_EQ(output(c), "done\n") << network_name(n);
  }
}

// Every mount made for the job is locked: it can neither unmount one (to see
// what it covers) nor make a read-only one writable, and a single cached layer
// (bound, not overlaid) stays read-only. Nor may it mount a proc of its own.
TEST_P(RuntimeTest, MountsAreLockedAgainstTheJob) {
  Mount dev{MountType::Devices};
  dev.devices = {Device::Null};
  TempDir host;
  testing::write_file(host.path() / "f", "host\n");
  auto c = sh(
      "mount -o remount,rw / 2>/dev/null && echo remounted-root;"
      "mount -o remount,bind,rw / 2>/dev/null && echo remounted-root-bind;"
      "touch /new 2>/dev/null && echo wrote-root;"
      "mount -o remount,rw /mnt/ro 2>/dev/null && echo remounted-bind;"
      "echo x > /mnt/ro/f 2>/dev/null && echo wrote-bind;"
      "umount /proc 2>/dev/null && echo unmounted-proc; umount -l /tmp 2>/dev/null && echo unmounted-tmp;"
      "umount /dev/null 2>/dev/null && echo unmounted-dev;"
      "mount -t proc proc /mnt/rw 2>/dev/null && echo mounted-proc;"
      "mount -t sysfs sysfs /mnt/rw 2>/dev/null && echo mounted-sysfs;"
      "mkdir -p /tmp/b && mount --bind / /tmp/b 2>/dev/null && mount -o remount,bind,rw /tmp/b 2>/dev/null && "
      "touch /tmp/b/new 2>/dev/null && echo wrote-through-rebind;"
      // In a mount namespace of its own, our mounts are locked.
      "unshare -m sh -c 'umount /proc 2>/dev/null && echo own-ns-unmounted;"
      "  mount -o remount,rw / 2>/dev/null && echo own-ns-remounted;"
      "  mount -o remount,bind,rw /mnt/ro 2>/dev/null && echo own-ns-remounted-bind; touch /x 2>/dev/null && echo "
      "own-ns-wrote; echo in-own-ns'; echo done");
  c.mounts = {Mount{MountType::Proc, "/proc"}, Mount{MountType::Tmp, "/tmp"}, dev,
              Mount{MountType::Bind, "/mnt/ro", host.path().string(), true}};
  for (Network n : {Network::Disabled, Network::Loopback}) {
    c.network = n;
    EXPECT_EQ(output(c), "in-own-ns\ndone\n") << network_name(n);
  }
  EXPECT_FALSE(fs::exists(root_.path() / "new"));
  std::ifstream f(host.path() / "f");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(f)), {}), "host\n");
}

// Host device nodes the job is given stay as they are: their owner is host
// root, which the job is not.
TEST_P(RuntimeTest, JobCannotChangeHostDevices) {
  struct stat before;
  ASSERT_EQ(::stat("/dev/zero", &before), 0);
  Mount dev{MountType::Devices};
  dev.devices = {Device::Zero, Device::Null};
  auto c = sh("chmod 666 /dev/zero 2>/dev/null && echo chmod; chown 0:0 /dev/null 2>/dev/null && echo chown; "
              "echo done");
  c.mounts = {dev};
  EXPECT_EQ(output(c), "done\n");
  struct stat after;
  ASSERT_EQ(::stat("/dev/zero", &after), 0);
  EXPECT_EQ(before.st_mode, after.st_mode);
  EXPECT_EQ(before.st_ctime, after.st_ctime);
}

// A job with a sys mount cannot write host-wide settings there either.
TEST_P(RuntimeTest, JobCannotWriteHostSysfs) {
  const char* knob = "/sys/kernel/mm/transparent_hugepage/defrag";
  if (!fs::exists(knob)) GTEST_SKIP() << knob << " missing";
  // Writes back the selected value ("[madvise]" of "always [madvise] never").
  auto c = sh(std::string("v=$(sed 's/.*\\[\\(.*\\)\\].*/\\1/' ") + knob + "); (echo $v > " + knob +
              ") 2>/dev/null && echo wrote; echo done");
  Mount null{MountType::Devices};
  null.devices = {Device::Null};  // for the 2>/dev/null above
  c.mounts = {Mount{MountType::Sys, "/sys"}, null};
  for (Network n : {Network::Disabled, Network::Loopback}) {
    c.network = n;
    EXPECT_EQ(output(c), "done\n") << network_name(n);
  }
}

// When we run as root, jobs run as an unprivileged host id (and as our own
// id otherwise): what a job writes through a bind mount belongs to it.
TEST_P(RuntimeTest, JobRunsAsAnUnprivilegedHostId) {
  TempDir host;
  ::chmod(host.path().c_str(), 0777);
  auto c = sh("echo x > /mnt/rw/by-job; id -u; id -G");
  c.mounts = {Mount{MountType::Bind, "/mnt/rw", host.path().string(), false}};
  EXPECT_EQ(output(c), "0\n0\n");
  struct stat st;
  ASSERT_EQ(::stat((host.path() / "by-job").c_str(), &st), 0);
  const uid_t expected = ::geteuid() == 0 ? RuntimeOptions::kDefaultJobHostId : ::geteuid();
  EXPECT_EQ(st.st_uid, expected);
}

// A fork bomb stops at the job's process limit.
TEST_P(RuntimeTest, ProcessLimit) {
  auto c = sh("i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); echo $i; done");
  c.limits.max_processes = 20;
  auto o = run(c);
  // The shell gives up at the first fork refused.
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_NE(o.effects.stderr_.first.find("can't fork"), std::string::npos) << describe(o);
  const std::string& out = o.effects.stdout_.first;
  size_t last = out.rfind('\n', out.size() - 2);
  int started = std::atoi(out.c_str() + (last == std::string::npos ? 0 : last + 1));
  EXPECT_LE(started, 19) << describe(o);  // with the shell itself, 20 processes
  EXPECT_GE(started, 15) << describe(o);
}

// Every tmpfs of the job is bounded.
TEST_P(RuntimeTest, TmpfsSizeLimit) {
  auto c = sh("dd if=/dev/zero of=/tmp/f bs=64k count=64 2>&1 | grep -o 'No space left' | head -1;"
              "dd if=/dev/zero of=/f bs=64k count=64 2>&1 | grep -o 'No space left' | head -1");
  Mount dev{MountType::Devices};
  dev.devices = {Device::Zero};
  c.mounts = {Mount{MountType::Tmp, "/tmp"}, dev};
  c.enable_writable_file_system = true;
  c.limits.max_tmpfs_size = 1 << 20;
  EXPECT_EQ(output(c), "No space left\nNo space left\n");
}

TEST_P(RuntimeTest, MemoryLimit) {
  if (!runtime_.enforces_memory_limits()) GTEST_SKIP() << "no cgroup for memory limits here";
  auto c = sh("dd if=/dev/zero of=/dev/null bs=64M count=1");
  Mount dev{MountType::Devices};
  dev.devices = {Device::Zero, Device::Null};
  c.mounts = {dev};
  c.limits.max_memory = 16 << 20;
  EXPECT_EQ(error_of(run(c)), "the job reached its memory limit (16777216 bytes) and was killed");
  c.limits.max_memory = 256 << 20;
  output(c);
}

// The init (PID 1) and the job's processes are in the container's memory cgroup.
TEST_P(RuntimeTest, ContainerIsInItsMemoryCgroup) {
  if (!runtime_.enforces_memory_limits()) GTEST_SKIP() << "no cgroup for memory limits here";
  // One line of each names it: the memory hierarchy's (v1) or the unified one's (v2).
  auto c = sh("for p in 1 self; do grep -c /maelstrom-job- /proc/$p/cgroup; done");
  c.mounts = {Mount{MountType::Proc, "/proc"}};
  EXPECT_EQ(output(c), "1\n1\n");
}

TEST_P(RuntimeTest, HostPidsAreInvisible) {
  auto c = sh("cd /proc && echo [0-9]*");
  c.mounts = {Mount{MountType::Proc, "/proc"}};
  // The glob runs in the shell itself: only our init and the job exist.
  EXPECT_EQ(output(c), "1 2\n");
  // init, sh, then sleep (forked before ps starts), then ps. A pipe here would
  // race: ps may read /proc before the shell has forked the pipe's other end.
  c.arguments[1] = "sleep 5 & ps -o pid; kill $!";
  std::string ps = output(c);
  EXPECT_EQ(std::count(ps.begin(), ps.end(), '\n'), 5) << ps;  // the header, our init, sh, sleep, ps
  EXPECT_EQ(ps.rfind("PID\n    1\n    2\n", 0), 0u) << ps;
}

TEST_P(RuntimeTest, HostFilesAreInvisible) {
  TempDir host;
  std::string name = host.path().filename().string();
  testing::write_file(host.path() / "secret", "s");
  auto c = sh("ls -a /tmp; test ! -e " + host.path().string() + "/secret && echo ok");
  EXPECT_EQ(output(c), ".\n..\nok\n");
  c.mounts = {Mount{MountType::Tmp, "/tmp"}};
  EXPECT_EQ(output(c), ".\n..\nok\n");
}

TEST_P(RuntimeTest, MissingMountPoint) {
  auto c = sh("true");
  c.mounts = {Mount{MountType::Tmp, "/no-such-dir"}};
  EXPECT_EQ(error_of(run(c)), "mount point /no-such-dir does not exist in the container");
  Mount dev{MountType::Devices};
  dev.devices = {Device::Null};
  fs::remove(root_.path() / "dev/null");
  c.mounts = {dev};
  EXPECT_EQ(error_of(run(c)), "mount point /dev/null does not exist in the container");
}

TEST_P(RuntimeTest, Devices) {
  Mount dev{MountType::Devices};
  dev.devices = {std::begin(kAllDevices), std::end(kAllDevices)};
  auto c = sh(
      "echo hi > /dev/null && head -c 5 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c &&"
      " head -c 2 /dev/random | wc -c && echo x > /dev/shm/f && cat /dev/shm/f &&"
      " (echo y > /dev/full) 2>&1 | grep -c 'No space' && test -c /dev/tty && test -c /dev/fuse && echo ok");
  c.mounts = {dev};
  EXPECT_EQ(output(c), "5\n3\n2\nx\n1\nok\n");
}

TEST_P(RuntimeTest, BindMounts) {
  TempDir host;
  ::chmod(host.path().c_str(), 0777);
  testing::write_file(host.path() / "in", "from host\n");
  Mount rw{MountType::Bind, "/mnt/rw", host.path().string(), false};
  Mount ro{MountType::Bind, "/mnt/ro", host.path().string(), true};
  auto c = sh("cat /mnt/ro/in; echo from job > /mnt/rw/out; echo again > /mnt/ro/out2 || echo refused");
  c.mounts = {rw, ro};
  std::string out = output(c);
  EXPECT_EQ(out, "from host\nrefused\n");
  std::ifstream f(host.path() / "out");
  std::string written((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(written, "from job\n");
  EXPECT_FALSE(fs::exists(host.path() / "out2"));

  c.mounts = {Mount{MountType::Bind, "/mnt/rw", host.path().string() + "/missing", false}};
  EXPECT_EQ(error_of(run(c)),
            "bind mount of " + host.path().string() + "/missing at /mnt/rw: No such file or directory");
}

TEST_P(RuntimeTest, SysMountNeedsNetworkNamespace) {
  auto c = sh("true");
  c.mounts = {Mount{MountType::Sys, "/sys"}};
  c.network = Network::Local;
  std::string e = error_of(run(c));
  EXPECT_NE(e.find("sys mounts need the job's own network namespace"), std::string::npos) << e;
}

TEST_P(RuntimeTest, NetworkDisabledHasLoopbackDown) {
  auto c = sh("ls /sys/class/net; cat /sys/class/net/lo/flags");
  c.mounts = {Mount{MountType::Sys, "/sys"}};
  EXPECT_EQ(output(c), "lo\n0x8\n");  // IFF_LOOPBACK, not IFF_UP
}

TEST_P(RuntimeTest, NetworkLoopbackIsUp) {
  auto c =
      sh("cat /sys/class/net/lo/flags; ping -c 1 -W 5 127.0.0.1 2>&1 | grep -o '1 packets received'; true");
  c.mounts = {Mount{MountType::Sys, "/sys"}};
  c.network = Network::Loopback;
  EXPECT_EQ(output(c), "0x9\n1 packets received\n");  // IFF_UP | IFF_LOOPBACK
  c.network = Network::Disabled;
  EXPECT_EQ(output(c), "0x8\n");
}

TEST_P(RuntimeTest, NetworkDisabledJobCannotChangeItsNamespace) {
  // Its network namespace is not its own (it may be reused): root in the
  // container has no privilege over it, and nothing it tried is left behind.
  auto c =
      sh("ifconfig lo up 2>/dev/null && echo changed; ifconfig lo 10.9.9.9 2>/dev/null && echo changed;"
         "cat /sys/class/net/lo/flags");
  c.mounts = {Mount{MountType::Sys, "/sys"}, Mount{MountType::Proc, "/proc"}};
  EXPECT_EQ(output(c), "0x8\n");
  c.arguments[1] = "cat /sys/class/net/lo/flags; ifconfig lo | grep -c 10.9.9.9; true";
  EXPECT_EQ(output(c), "0x8\n0\n");
  // Nor its sysctls (owned by root of the namespace's user namespace, which
  // the job's root is not, even when we run as root).
  const std::string range = "/proc/sys/net/ipv4/ip_local_port_range";
  c.arguments[1] = "echo '20000 20100' > " + range + " && echo changed; cat " + range +
                   "; echo 100 > /proc/sys/net/core/somaxconn && echo changed; true";
  std::string before = output(c);
  EXPECT_EQ(before.find("changed"), std::string::npos) << before;
  EXPECT_EQ(output(c), before);
  // A job with a second sys mount gets a namespace of its own, where it may.
  c.arguments[1] = "ifconfig lo up && cat /sys/class/net/lo/flags /mnt/class/net/lo/flags";
  c.mounts = {Mount{MountType::Sys, "/sys"}, Mount{MountType::Sys, "/mnt"}};
  EXPECT_EQ(output(c), "0x9\n0x9\n");
}

// The job's network namespace, as /proc shows it ("net:[inode]").
std::string net_ns_of_host() {
  return fs::read_symlink("/proc/self/ns/net").string() + "\n";
}

TEST_P(RuntimeTest, NetworkNamespaceServesOneJobAtATime) {
  TempDir host;
  ::chmod(host.path().c_str(), 0777);
  auto probe = sh("readlink /proc/self/ns/net");
  probe.mounts = {Mount{MountType::Proc, "/proc"}};
  // A first job holds its namespace until the test says go.
  auto holder =
      sh("readlink /proc/self/ns/net > /mnt/ns.tmp && mv /mnt/ns.tmp /mnt/ns;"
         "while [ ! -e /mnt/go ]; do sleep 0.01; done");
  holder.mounts = {Mount{MountType::Proc, "/proc"},
                   Mount{MountType::Bind, "/mnt", host.path().string(), false}};
  std::atomic<bool> first_done{false};
  std::thread first([&] {
    EXPECT_EQ(output(holder), "");
    first_done = true;
  });
  while (!fs::exists(host.path() / "ns") && !first_done)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::ifstream f(host.path() / "ns");
  std::string held((std::istreambuf_iterator<char>(f)), {});
  std::string during = output(probe);
  testing::write_file(host.path() / "go", "");
  first.join();
  EXPECT_NE(held, during);  // never two jobs in one namespace
  EXPECT_NE(held, net_ns_of_host());
  EXPECT_NE(during, net_ns_of_host());
  // Reused once free. The pool keeps its namespaces alive, so an inode seen
  // again is the same namespace. Without prepared containers only the two
  // above exist; with them, also those the prepared containers hold.
  std::set<std::string> seen{held, during};
  for (int i = 0; i < 10; ++i) {
    std::string ns = output(probe);
    if (GetParam() == 0) {
      EXPECT_TRUE(seen.count(ns)) << ns << " is new";
    }
    seen.insert(ns);
  }
  EXPECT_LE(seen.size(), GetParam() + 2);
}

TEST(RuntimeNoReuseTest, EachJobMakesItsNetworkNamespace) {
  TempDir scratch, root;
  testing::make_busybox_root(root.path());
  RuntimeOptions options;
  options.reuse_network_namespaces = false;
  Runtime runtime(scratch.path(), options);
  ContainerConfig c;
  c.lower_dirs = {root.path()};
  c.program = "sh";
  c.arguments = {"-c", "ifconfig lo up && cat /sys/class/net/lo/flags"};
  c.mounts = {Mount{MountType::Sys, "/sys"}};
  auto o = runtime.run(c);
  EXPECT_EQ(o.effects.stdout_.first, "0x9\n") << describe(o);
}

TEST_P(RuntimeTest, NetworkLocalSeesHostInterfaces) {
  auto interfaces = [](std::istream& in) {
    std::set<std::string> names;
    std::string line;
    while (std::getline(in, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto start = line.find_first_not_of(' ');
      names.insert(line.substr(start, colon - start));
    }
    return names;
  };
  std::ifstream host_dev("/proc/net/dev");
  auto host = interfaces(host_dev);
  auto c = sh("cat /proc/net/dev");
  c.mounts = {Mount{MountType::Proc, "/proc"}};
  c.network = Network::Local;
  std::istringstream local(output(c));
  EXPECT_EQ(interfaces(local), host);
  c.network = Network::Disabled;
  std::istringstream own(output(c));
  EXPECT_EQ(interfaces(own), std::set<std::string>{"lo"});
}

TEST_P(RuntimeTest, TimeoutKillsEverything) {
  const std::string marker = "98765" + std::to_string(::getpid() % 1000);
  auto c = sh("setsid sleep " + marker + " & echo started; sleep " + marker);
  c.timeout = std::chrono::milliseconds(300);
  auto o = run(c);
  ASSERT_TRUE(std::holds_alternative<TimedOut>(o.result)) << describe(o);
  EXPECT_EQ(o.effects.stdout_.first, "started\n");
  EXPECT_FALSE(process_with_marker(marker));
}

TEST_P(RuntimeTest, OrphansDieWithTheJob) {
  const std::string marker = "98764" + std::to_string(::getpid() % 1000);
  auto o = run(sh("setsid sleep " + marker + " & exit 0"));
  ASSERT_TRUE(std::holds_alternative<Exited>(o.result)) << describe(o);
  EXPECT_FALSE(process_with_marker(marker));
}

TEST_P(RuntimeTest, CancelFromAnotherThread) {
  CancelToken token;
  const std::string marker = "98763" + std::to_string(::getpid() % 1000);
  std::thread canceller([&] {
    while (!process_with_marker(marker)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    token.cancel();
  });
  auto o = run(sh("sleep " + marker), &token);
  canceller.join();
  EXPECT_EQ(error_of(o, JobErrorKind::System), "job cancelled");
  EXPECT_FALSE(process_with_marker(marker));
}

// With a terminal the job's stdio is the pty's slave, which is also its
// controlling terminal; typed input reaches it and its output goes there.
TEST_P(RuntimeTest, TerminalIsStdioAndControllingTerminal) {
  Pty pty = open_pty(WindowSize{12, 34});
  ContainerConfig c =
      sh("test -t 0 && test -t 1 && test -t 2 && echo is-a-tty; stty size; "
         "read pid comm state ppid pgrp session tty rest < /proc/self/stat; test $tty != 0 && echo has-ctty; "
         "read line; echo got $line");
  c.mounts = {Mount{MountType::Proc, "/proc"}};
  c.terminal = pty.slave.get();
  ASSERT_EQ(::write(pty.master.get(), "hello\n", 6), 6);  // typed ahead: the pty keeps it
  JobOutcome o = run(c);
  auto* e = std::get_if<Exited>(&o.result);
  EXPECT_TRUE(e && e->code == 0) << describe(o);
  EXPECT_EQ(o.effects.stdout_.first, "");
  pty.slave.reset();
  std::string shown;
  char buf[4096];
  for (ssize_t n; (n = ::read(pty.master.get(), buf, sizeof buf)) > 0;)
    shown.append(buf, static_cast<size_t>(n));
  for (const char* want : {"is-a-tty", "12 34", "has-ctty", "got hello"})
    EXPECT_NE(shown.find(want), std::string::npos) << want << " not in: " << shown;
}

TEST_P(RuntimeTest, ConcurrentRuns) {
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        auto c = sh("echo " + std::to_string(t * 100 + i));
        c.network = i % 2 ? Network::Local : Network::Disabled;
        auto o = runtime_.run(c);
        if (o.effects.stdout_.first == std::to_string(t * 100 + i) + "\n") ++good;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 32);
}

INSTANTIATE_TEST_SUITE_P(Pool, RuntimeTest, ::testing::Values(size_t{0}, size_t{2}),
                         [](const auto& info) { return info.param ? "Prepared" : "OnDemand"; });

}  // namespace
}  // namespace mael
