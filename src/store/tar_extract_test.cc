#include "store/tar_extract.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/test_temp_dir.h"
#include "store/test_tar_util.h"

namespace fs = std::filesystem;
using namespace mael;
using namespace mael::testing;

namespace {

fs::path write_tar(const fs::path& dir, const std::string& bytes, const std::string& name = "layer.tar") {
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

bool is_whiteout(const fs::path& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string xattr(const fs::path& p, const char* name) {
  char buf[16];
  ssize_t n = lgetxattr(p.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

TEST(TarExtract, FilesDirsSymlinksHardlinksAndModes) {
  TempDir t;
  auto tar =
      write_tar(t.path(), make_tar({tdir("d", 0750), tfile("d/a", "hello", 0640), tfile("d/x", "run", 04755),
                                    tsymlink("d/link", "a"), thardlink("d/hard", "d/a"),
                                    tfile("/abs/f", "abs"), tdir("ro", 0555), tfile("ro/inside", "r")}));
  fs::path dest = t.path() / "out";
  extract_tar(tar, dest);
  EXPECT_EQ(read_text(dest / "d/a"), "hello");
  EXPECT_EQ(fs::status(dest / "d").permissions(), fs::perms(0750));
  EXPECT_EQ(fs::status(dest / "d/a").permissions(), fs::perms(0640));
  // setuid is stripped, the rest of the mode kept.
  EXPECT_EQ(fs::status(dest / "d/x").permissions(), fs::perms(0755));
  EXPECT_EQ(fs::read_symlink(dest / "d/link"), "a");
  struct stat a, h;
  ASSERT_EQ(stat((dest / "d/a").c_str(), &a), 0);
  ASSERT_EQ(stat((dest / "d/hard").c_str(), &h), 0);
  EXPECT_EQ(a.st_ino, h.st_ino);
  EXPECT_EQ(a.st_uid, getuid());
  EXPECT_EQ(read_text(dest / "abs/f"), "abs");  // absolute names land inside dest
  EXPECT_EQ(fs::status(dest / "ro").permissions(), fs::perms(0555));
  EXPECT_EQ(read_text(dest / "ro/inside"), "r");
}

TEST(TarExtract, GzipAndZstd) {
  TempDir t;
  for (auto c : {Compression::kGzip, Compression::kZstd}) {
    std::string bytes = make_tar({tfile("f", "compressed")}, c);
    ASSERT_NE(bytes.find("compressed"), 0u);
    fs::path dest = t.path() / ("out" + std::to_string(static_cast<int>(c)));
    extract_tar(write_tar(t.path(), bytes), dest);
    EXPECT_EQ(read_text(dest / "f"), "compressed");
  }
}

TEST(TarExtract, RejectsDotDot) {
  TempDir t;
  auto tar = write_tar(t.path(), make_tar({tfile("a/../../evil", "x")}));
  EXPECT_THROW(extract_tar(tar, t.path() / "out"), UserError);
  EXPECT_FALSE(fs::exists(t.path() / "evil"));
  auto tar2 = write_tar(t.path(), make_tar({tfile("ok", "x"), thardlink("h", "../outside")}), "2.tar");
  EXPECT_THROW(extract_tar(tar2, t.path() / "out2"), UserError);
}

TEST(TarExtract, NeverWritesThroughSymlinks) {
  TempDir t;
  fs::create_directory(t.path() / "outside");
  auto tar = write_tar(t.path(),
                       make_tar({tsymlink("esc", (t.path() / "outside").string()), tfile("esc/pwned", "x")}));
  // libarchive replaces the symlink by a directory (or refuses): never escapes.
  try {
    extract_tar(tar, t.path() / "out");
    EXPECT_EQ(read_text(t.path() / "out/esc/pwned"), "x");
    EXPECT_FALSE(fs::is_symlink(t.path() / "out/esc"));
  } catch (const UserError&) {
  }
  EXPECT_FALSE(fs::exists(t.path() / "outside/pwned"));
  // Whiteouts neither.
  auto tar2 = write_tar(t.path(),
                        make_tar({tsymlink("esc", (t.path() / "outside").string()), tfile("esc/.wh.x", "")}),
                        "2.tar");
  EXPECT_THROW(extract_tar(tar2, t.path() / "out2"), UserError);
  EXPECT_FALSE(fs::exists(t.path() / "outside/x"));
}

TEST(TarExtract, SkipsDeviceNodesAndFifos) {
  TempDir t;
  auto tar = write_tar(t.path(), make_tar({{TarItem::kChar, "dev/null", "", 0666},
                                           {TarItem::kFifo, "dev/fifo", "", 0644},
                                           tfile("dev/after", "ok")}));
  fs::path dest = t.path() / "out";
  extract_tar(tar, dest);
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "dev/null")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "dev/fifo")));
  EXPECT_EQ(read_text(dest / "dev/after"), "ok");
}

TEST(TarExtract, WhiteoutsBecomeOverlayFormat) {
  TempDir t;
  auto tar = write_tar(t.path(), make_tar({tdir("etc"), tfile("etc/.wh.passwd", ""), tdir("opt"),
                                           tfile("opt/.wh..wh..opq", ""), tfile("opt/new", "n"),
                                           tfile("missing/parent/.wh.gone", ""), tfile(".wh..wh.plnk", "")}));
  fs::path dest = t.path() / "out";
  extract_tar(tar, dest);
  EXPECT_TRUE(is_whiteout(dest / "etc/passwd"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "etc/.wh.passwd")));
  EXPECT_EQ(xattr(dest / "opt", "user.overlay.opaque"), "y");
  if (geteuid() == 0) {
    EXPECT_EQ(xattr(dest / "opt", "trusted.overlay.opaque"), "y");
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "opt/.wh..wh..opq")));
  EXPECT_EQ(read_text(dest / "opt/new"), "n");
  EXPECT_TRUE(is_whiteout(dest / "missing/parent/gone"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "plnk")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / ".wh..wh.plnk")));
}

// The runtime extracts as an unprivileged user: whiteout devices and user.*
// xattrs must work without privilege (mknod 0/0 is allowed since Linux 5.8).
TEST(TarExtract, WhiteoutsWorkUnprivileged) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  TempDir t;
  chmod(t.path().c_str(), 0777);
  auto tar = write_tar(t.path(), make_tar({tfile("a/.wh.x", ""), tfile("b/.wh..wh..opq", "")}));
  chmod(tar.c_str(), 0644);
  fs::path dest = t.path() / "out";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    try {
      extract_tar(tar, dest);
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(is_whiteout(dest / "a/x"));
  EXPECT_EQ(xattr(dest / "b", "user.overlay.opaque"), "y");
  EXPECT_EQ(xattr(dest / "b", "trusted.overlay.opaque"), "");
}

TEST(TarExtract, ApplyModeDeletesLowerContent) {
  TempDir t;
  fs::path dest = t.path() / "out";
  extract_tar(write_tar(t.path(),
                        make_tar({tfile("etc/passwd", "p"), tfile("etc/keep", "k"), tfile("opt/old", "o"),
                                  tfile("opt/sub/old2", "o")}),
                        "lower.tar"),
              dest, {WhiteoutMode::kApply});
  extract_tar(write_tar(t.path(),
                        make_tar({tfile("opt/sub/new", "n"), tfile("etc/.wh.passwd", ""),
                                  tfile("opt/.wh..wh..opq", ""), tfile("opt/late", "l")}),
                        "upper.tar"),
              dest, {WhiteoutMode::kApply});
  EXPECT_FALSE(fs::exists(dest / "etc/passwd"));
  EXPECT_TRUE(fs::exists(dest / "etc/keep"));
  EXPECT_FALSE(fs::exists(dest / "opt/old"));
  EXPECT_FALSE(fs::exists(dest / "opt/sub/old2"));
  EXPECT_EQ(read_text(dest / "opt/sub/new"), "n");
  EXPECT_EQ(read_text(dest / "opt/late"), "l");
}

TEST(TarExtract, CorruptAndMissing) {
  TempDir t;
  std::string good = make_tar({tfile("f", std::string(5000, 'x'))});
  EXPECT_THROW(extract_tar(write_tar(t.path(), good.substr(0, 1500)), t.path() / "o1"), UserError);
  EXPECT_THROW(extract_tar(write_tar(t.path(), "this is not a tar archive at all", "x.tar"), t.path() / "o2"),
               UserError);
  EXPECT_THROW(extract_tar(t.path() / "nope.tar", t.path() / "o3"), UserError);
}

// A name thousands of characters deep, as a hostile tar may hold: "d/d/.../d" (`levels` times).
std::string deep_name(int levels) {
  std::string p;
  for (int i = 0; i < levels; ++i) p += "d/";
  return p;
}

int open_fd_count() {
  return static_cast<int>(count_entries("/proc/self/fd"));
}

TEST(TarExtract, NamesOfAnyDepthWithoutChdirOrAnFdPerLevel) {
  TempDir t;
  std::string deep = deep_name(2100);  // 4,200 characters, past PATH_MAX (4,096)
  auto tar =
      write_tar(t.path(), make_tar({tdir(deep + "ro", 0555), tfile(deep + "ro/f", "bottom"),
                                    tsymlink(deep + "link", "ro/f"), thardlink("top", deep + "ro/f")}));
  fs::path dest = t.path() / "out";
  fs::path cwd = fs::current_path();
  int fds = open_fd_count();
  extract_tar(tar, dest);
  EXPECT_EQ(fs::current_path(), cwd);
  EXPECT_EQ(open_fd_count(), fds);
  EXPECT_EQ(read_text(dest / "top"), "bottom");
  struct stat st;
  ASSERT_EQ(lstat((dest / "top").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  // The whole tree is counted and removed, whatever its depth.
  EXPECT_GT(disk_usage(dest), 2100u * 512);
  remove_tree(dest);
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(open_fd_count(), fds);
}

TEST(TarExtract, DeepExtractionsInSeveralThreadsAtOnce) {
  TempDir t;
  auto tar = write_tar(t.path(), make_tar({tfile(deep_name(2100) + "f", "x")}));
  std::vector<std::thread> threads;
  std::atomic<int> ok = 0;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      extract_tar(tar, t.path() / ("out" + std::to_string(i)));
      ++ok;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 3);
}

TEST(TarExtract, RefusesALayerOverItsByteBoundAsItReadsIt) {
  TempDir t;
  ExtractOptions o;
  o.limits.max_bytes = 1 << 20;
  o.bytes_hint = "the cache size; raise --cache-size";
  // One entry that says it is big: refused before a byte of it is written.
  auto big =
      write_tar(t.path(), make_tar({tfile("small", "s"), tfile("big", std::string(2 << 20, 'x'))}), "b.tar");
  try {
    extract_tar(big, t.path() / "o1", o);
    ADD_FAILURE() << "extracted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "layer tar " + big.string() +
                  " expands to more than 1048576 bytes (the cache size; raise --cache-size); "
                  "refused");
  }
  EXPECT_FALSE(fs::exists(t.path() / "o1/big"));
  // Many small ones add up.
  std::vector<TarItem> many;
  for (int i = 0; i < 40; ++i) many.push_back(tfile("f" + std::to_string(i), std::string(40000, 'y')));
  EXPECT_THROW(
      extract_tar(write_tar(t.path(), make_tar(many, Compression::kZstd), "m.tar"), t.path() / "o2", o),
      UserError);
  EXPECT_LT(disk_usage(t.path() / "o2"), uint64_t{1} << 20);
  // Holes count: a sparse file of 64 MiB with 4 KiB of data.
  auto sparse = write_tar(t.path(), make_tar({tsparse("s", std::string(4096, 'z'), 64 << 20)}), "s.tar");
  EXPECT_THROW(extract_tar(sparse, t.path() / "o3", o), UserError);
  // Hard links cost an entry each, like any other.
  std::vector<TarItem> links{tfile("target", "t")};
  for (int i = 0; i < 300; ++i) links.push_back(thardlink("l" + std::to_string(i), "target"));
  EXPECT_THROW(extract_tar(write_tar(t.path(), make_tar(links), "h.tar"), t.path() / "o4", o), UserError);
}

TEST(TarExtract, SparseFilesUnderTheBoundKeepTheirHoles) {
  TempDir t;
  auto tar = write_tar(t.path(), make_tar({tsparse("s", std::string(4096, 'z'), 1 << 20)}));
  fs::path dest = t.path() / "out";
  extract_tar(tar, dest);
  EXPECT_EQ(fs::file_size(dest / "s"), 1u << 20);
  EXPECT_EQ(read_text(dest / "s").substr(0, 4096), std::string(4096, 'z'));
}

TEST(TarExtract, RefusesTooManyEntriesImplicitDirectoriesIncluded) {
  TempDir t;
  ExtractOptions o;
  o.limits.max_entries = 100;
  std::vector<TarItem> empty;
  for (int i = 0; i < 150; ++i) empty.push_back(tfile("e" + std::to_string(i), ""));
  try {
    extract_tar(write_tar(t.path(), make_tar(empty)), t.path() / "o1", o);
    ADD_FAILURE() << "extracted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("has more than 100 entries, the limit for one layer"),
              std::string::npos)
        << e.what();
  }
  // One entry whose name makes 150 directories.
  EXPECT_THROW(extract_tar(write_tar(t.path(), make_tar({tfile(deep_name(150) + "f", "")}), "d.tar"),
                           t.path() / "o2", o),
               UserError);
}

TEST(TarExtract, OwnerGetsEveryEntryAndTheRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  TempDir t;
  ExtractOptions o;
  o.owner = FileOwner{65534, 65533};
  auto tar = write_tar(t.path(), make_tar({tdir("d", 0500), tfile("d/f", "x", 0400), tsymlink("d/l", "f"),
                                           thardlink("h", "d/f"), tfile("implicit/dir/g", "y"),
                                           tfile("w/.wh.gone", ""), tfile("o/.wh..wh..opq", "")}));
  fs::path dest = t.path() / "out";
  extract_tar(tar, dest, o);
  for (const char* p :
       {"", "d", "d/f", "d/l", "h", "implicit", "implicit/dir", "implicit/dir/g", "w", "w/gone", "o"}) {
    struct stat st;
    ASSERT_EQ(lstat((dest / p).c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, 65534u) << p;
    EXPECT_EQ(st.st_gid, 65533u) << p;
  }
  EXPECT_EQ(fs::status(dest / "d").permissions(), fs::perms(0500));
}

TEST(TarExtract, Lz4) {
  TempDir t;
  fs::path dest = t.path() / "out";
  extract_tar(write_tar(t.path(), make_tar({tfile("f", "lz4 data")}, Compression::kLz4)), dest);
  EXPECT_EQ(read_text(dest / "f"), "lz4 data");
}

TEST(TarExtract, NamesTheFileSystemRefusesAreTheLayersError) {
  TempDir t;
  std::string long_name(300, 'a');  // longer than a file name may be (255)
  for (const auto& item : {tfile(long_name, "x"), tfile(long_name + "/f", "x"),
                           tfile("d/.wh." + long_name, ""), tsymlink("l", std::string(5000, 'b'))}) {
    try {
      extract_tar(write_tar(t.path(), make_tar({item})), t.path() / "out", {});
      ADD_FAILURE() << "extracted " << item.path.size();
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("layer tar "), std::string::npos) << e.what();
    }
    remove_tree(t.path() / "out");
  }
}

TEST(TarExtract, LaterEntriesReplaceEarlierOnes) {
  TempDir t;
  auto tar =
      write_tar(t.path(), make_tar({tdir("x/sub"), tfile("x/sub/f", "1"), tfile("x", "now a file"),
                                    tfile("y", "1"), tsymlink("y", "x"), tdir("z", 0700), tdir("z", 0750)}));
  fs::path dest = t.path() / "out";
  extract_tar(tar, dest);
  EXPECT_EQ(read_text(dest / "x"), "now a file");
  EXPECT_EQ(fs::read_symlink(dest / "y"), "x");
  EXPECT_EQ(fs::status(dest / "z").permissions(), fs::perms(0750));
}

TEST(TarExtract, DirectoriesWithoutPermissionsForUs) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  // As an unprivileged user (root ignores modes): a 0000 directory with content is written and
  // removed.
  TempDir t;
  chmod(t.path().c_str(), 0777);
  auto tar =
      write_tar(t.path(), make_tar({tdir("locked", 0), tfile("locked/f", "x"), tdir("locked/sub", 0)}));
  chmod(tar.c_str(), 0644);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    try {
      extract_tar(tar, t.path() / "out");
      struct stat st;
      if (lstat((t.path() / "out/locked").c_str(), &st) != 0 || (st.st_mode & 07777) != 0) _exit(3);
      remove_tree(t.path() / "out");
    } catch (...) {
      _exit(1);
    }
    _exit(fs::exists(t.path() / "out") ? 4 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(TarExtract, NormalizeEntryName) {
  EXPECT_EQ(normalize_entry_name("./a//b/./c/", "t"), "a/b/c");
  EXPECT_EQ(normalize_entry_name("/abs", "t"), "abs");
  EXPECT_EQ(normalize_entry_name("./", "t"), "");
  EXPECT_THROW(normalize_entry_name("a/../b", "t"), UserError);
}

}  // namespace
