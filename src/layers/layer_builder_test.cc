#include "layers/layer_builder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "base/test_temp_dir.h"
#include "store/artifact_store.h"
#include "store/test_tar_util.h"

namespace fs = std::filesystem;
using namespace mael;

namespace {

using mael::testing::read_text;

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

// Every path in a tree, relative, with a type letter: "f a/b", "d a", "l x -> y".
std::set<std::string> listing(const fs::path& root) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = it->path().lexically_relative(root).string();
    if (it->is_symlink())
      out.insert("l " + rel + " -> " + fs::read_symlink(it->path()).string());
    else if (it->is_directory())
      out.insert("d " + rel);
    else
      out.insert("f " + rel);
  }
  return out;
}

fs::perms perms(const fs::path& p) {
  return fs::symlink_status(p).permissions();
}

class LayerBuilderTest : public ::testing::Test {
 protected:
  LayerBuilderTest() : store_(tmp_.path() / "cache"), builder_(store_, project()) {}
  fs::path project() const { return tmp_.path() / "project"; }
  // Builds the layer and returns the extracted tree.
  fs::path build_tree(const LayerSpec& spec) {
    Digest d = builder_.build(spec);
    refs_.push_back(store_.tree(d));
    return refs_.back().path();
  }

  mael::testing::TempDir tmp_;
  ArtifactStore store_;
  LayerBuilder builder_;
  std::vector<ArtifactStore::TreeRef> refs_;
};

TEST_F(LayerBuilderTest, TarLayerIsTheFileAsIs) {
  std::string tar = mael::testing::make_tar({mael::testing::tfile("x/y", "data")});
  write(project() / "layers/l.tar", tar);
  Digest d = builder_.build(TarLayer{"layers/l.tar"});
  EXPECT_EQ(d, Digest::of_bytes(tar));
  EXPECT_EQ(read_text(store_.tree(d).path() / "x/y"), "data");
  try {
    builder_.build(TarLayer{"missing.tar"});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "tar layer missing.tar does not exist");
  }
}

TEST_F(LayerBuilderTest, GlobLayer) {
  write(project() / "a.txt", "a");
  write(project() / "b.bin", "b");
  write(project() / "sub/c.txt", "c");
  write(project() / "foo/bar/baz", "z");
  EXPECT_EQ(listing(build_tree(GlobLayer{"*.txt", {}})),
            (std::set<std::string>{"f a.txt", "d sub", "f sub/c.txt"}));
  EXPECT_EQ(listing(build_tree(GlobLayer{"foo/**", {}})),
            (std::set<std::string>{"d foo", "d foo/bar", "f foo/bar/baz"}));
  PrefixOptions po;
  po.strip_prefix = "sub";
  po.prepend_prefix = "/opt/x";
  EXPECT_EQ(listing(build_tree(GlobLayer{"sub/*.txt", po})),
            (std::set<std::string>{"d opt", "d opt/x", "f opt/x/c.txt"}));
  EXPECT_EQ(listing(build_tree(GlobLayer{"*.none", {}})), std::set<std::string>{});
}

TEST(LayerBuilder, GlobSkipsACacheInsideTheProject) {
  mael::testing::TempDir t;
  write(t.path() / "a.txt", "a");
  ArtifactStore store(t.path() / ".cache");
  LayerBuilder builder(store, t.path());
  store.add_blob_bytes("something cached");
  auto ref = store.tree(builder.build(GlobLayer{"**", {}}));
  EXPECT_EQ(listing(ref.path()), std::set<std::string>{"f a.txt"});
}

TEST(LayerBuilder, GlobSkipsTheWholeCacheDirectoryTheStoreIsIn) {
  // .maelstrom-pytest/cache holds the store (artifacts/) and pip packages beside it.
  mael::testing::TempDir t;
  write(t.path() / "t.py", "a");
  write(t.path() / ".state/cache/pip_packages/root/usr/lib/mod.py", "pip's");
  ArtifactStore store(t.path() / ".state/cache/artifacts");
  LayerBuilder builder(store, t.path());
  auto ref = store.tree(builder.build(GlobLayer{"**.py", {}}));
  EXPECT_EQ(listing(ref.path()), std::set<std::string>{"f t.py"});
  // A store right in the project skips only itself.
  mael::testing::TempDir u;
  write(u.path() / "t.py", "a");
  ArtifactStore top(u.path() / "artifacts");
  LayerBuilder b2(top, u.path());
  EXPECT_EQ(listing(top.tree(b2.build(GlobLayer{"**.py", {}})).path()), std::set<std::string>{"f t.py"});
}

// A glob with a literal directory walks only below it: what it finds is what a walk of the whole
// project would find (no symlinked directory followed, no store entered).
TEST_F(LayerBuilderTest, GlobBelowItsLiteralDirectory) {
  write(project() / "crates/a/data/one.txt", "1");
  write(project() / "crates/a/data/deep/two.txt", "2");
  write(project() / "crates/a/data/three.bin", "3");
  write(project() / "crates/b/data/four.txt", "4");
  write(project() / "other/crates/a/data/five.txt", "5");
  fs::create_directory_symlink("a", project() / "crates/link");
  EXPECT_EQ(listing(build_tree(GlobLayer{"crates/a/data/*.txt", {}})),
            (std::set<std::string>{"d crates", "d crates/a", "d crates/a/data", "f crates/a/data/one.txt",
                                   "d crates/a/data/deep", "f crates/a/data/deep/two.txt"}));
  EXPECT_EQ(listing(build_tree(GlobLayer{"crates/a/**", {}})).size(), 7u);
  EXPECT_EQ(listing(build_tree(GlobLayer{"crates/a/data/one.txt", {}})),
            (std::set<std::string>{"d crates", "d crates/a", "d crates/a/data", "f crates/a/data/one.txt"}));
  // Through a symlinked directory, a missing one, or a file: nothing, as from the top.
  EXPECT_TRUE(builder_.plan(GlobLayer{"crates/link/data/*.txt", {}}).empty());
  EXPECT_TRUE(builder_.plan(GlobLayer{"crates/none/*", {}}).empty());
  EXPECT_TRUE(builder_.plan(GlobLayer{"crates/a/data/one.txt/*", {}}).empty());
  // A pattern without a literal directory still walks everything.
  EXPECT_EQ(builder_.plan(GlobLayer{"**/five.txt", {}}).size(), 5u);  // four dirs and the file
}

TEST(LayerBuilder, GlobNeverWalksIntoACacheOnItsLiteralDirectory) {
  mael::testing::TempDir t;
  ArtifactStore store(t.path() / "target/cache");
  LayerBuilder builder(store, t.path());
  store.add_blob_bytes("something cached");
  EXPECT_TRUE(builder.plan(GlobLayer{"target/cache/blobs/*", {}}).empty());
  EXPECT_TRUE(builder.plan(GlobLayer{"target/cache/**", {}}).empty());
}

TEST_F(LayerBuilderTest, PathsLayer) {
  write(project() / "dir/file", "hello");
  chmod((project() / "dir/file").c_str(), 0750);
  fs::create_directories(project() / "emptydir/inner");
  fs::create_symlink("file", project() / "dir/link");
  fs::path tree = build_tree(PathsLayer{{"dir/file", "dir/link", "emptydir"}, {}});
  EXPECT_EQ(listing(tree),
            (std::set<std::string>{"d dir", "f dir/file", "l dir/link -> file", "d emptydir"}));
  EXPECT_EQ(read_text(tree / "dir/file"), "hello");
  EXPECT_EQ(perms(tree / "dir/file"), fs::perms(0750));
  EXPECT_EQ(perms(tree / "dir"), fs::perms(0755));

  PrefixOptions follow;
  follow.follow_symlinks = true;
  fs::path t2 = build_tree(PathsLayer{{"dir/link"}, follow});
  EXPECT_EQ(listing(t2), (std::set<std::string>{"d dir", "f dir/link"}));
  EXPECT_EQ(read_text(t2 / "dir/link"), "hello");

  // Absolute paths keep their absolute place.
  fs::path abs = project() / "dir/file";
  fs::path t3 = build_tree(PathsLayer{{abs.string()}, {}});
  EXPECT_EQ(read_text(t3 / abs.relative_path()), "hello");

  try {
    builder_.build(PathsLayer{{"nope/x"}, {}});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "layer path nope/x does not exist");
  }
}

TEST_F(LayerBuilderTest, PrefixOptions) {
  write(project() / "layers/a/a.bin", "a");
  auto one = [&](PrefixOptions po, const std::string& input = "layers/a/a.bin") {
    auto entries = builder_.plan(PathsLayer{{input}, po});
    std::string files;
    for (const auto& e : entries)
      if (e.kind == LayerEntry::kFile) files += e.path;
    return files;
  };
  PrefixOptions strip;
  strip.strip_prefix = "layers/";
  EXPECT_EQ(one(strip), "a/a.bin");
  PrefixOptions not_there;
  not_there.strip_prefix = "elsewhere";
  EXPECT_EQ(one(not_there), "layers/a/a.bin");  // not under the prefix: unchanged
  PrefixOptions prepend;
  prepend.prepend_prefix = "test/";
  EXPECT_EQ(one(prepend), "test/layers/a/a.bin");
  PrefixOptions canon;
  canon.canonicalize = true;
  EXPECT_EQ(one(canon), fs::canonical(project() / "layers/a/a.bin").relative_path().string());
  // canonicalize resolves symlinked directories, then strip/prepend apply.
  fs::create_directory_symlink("layers/a", project() / "alias");
  PrefixOptions all;
  all.canonicalize = true;
  all.strip_prefix = fs::canonical(project()).string();
  all.prepend_prefix = "/srv";
  EXPECT_EQ(one(all, "alias/a.bin"), "srv/layers/a/a.bin");
  PrefixOptions up;
  up.strip_prefix = "layers/a";
  up.prepend_prefix = "..";
  EXPECT_THROW(one(up), UserError);
}

TEST_F(LayerBuilderTest, StubsLayer) {
  fs::path tree = build_tree(StubsLayer{{"/dev/{null,zero}", "/{proc,tmp}/", "/usr/bin/"}});
  EXPECT_EQ(listing(tree), (std::set<std::string>{"d dev", "f dev/null", "f dev/zero", "d proc", "d tmp",
                                                  "d usr", "d usr/bin"}));
  EXPECT_EQ(perms(tree / "dev/null"), fs::perms(0444));
  EXPECT_EQ(perms(tree / "proc"), fs::perms(0555));
  EXPECT_EQ(fs::file_size(tree / "dev/zero"), 0u);
}

TEST_F(LayerBuilderTest, StubsLayerIsBoundedAsAWhole) {
  // Each pattern is within the bound, the two together are not.
  std::string error;
  try {
    builder_.build(StubsLayer{{"/a/{1..6000}", "/b/{1..6000}"}});
  } catch (const UserError& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("stubs entry '/b/{1..6000}': expands to more than 10000 paths in one stubs layer"),
            std::string::npos)
      << error;
}

TEST_F(LayerBuilderTest, SymlinksLayer) {
  fs::path tree = build_tree(SymlinksLayer{{{"/usr/bin/sh", "/bin/busybox"}, {"rel", "target/x"}}});
  EXPECT_EQ(listing(tree), (std::set<std::string>{"d usr", "d usr/bin", "l usr/bin/sh -> /bin/busybox",
                                                  "l rel -> target/x"}));
}

// Whether path (absolute, as in the container) resolves to a regular file inside tree.
bool resolves_in(const fs::path& tree, fs::path path) {
  for (int hops = 0; hops < 40; ++hops) {
    fs::path host = tree / path.relative_path();
    auto st = fs::symlink_status(host);
    if (fs::is_regular_file(st)) return true;
    if (!fs::is_symlink(st)) return false;
    fs::path target = fs::read_symlink(host);
    path = (target.is_absolute() ? target : path.parent_path() / target).lexically_normal();
  }
  return false;
}

TEST_F(LayerBuilderTest, SharedLibraryDependenciesOfLs) {
  fs::path tree = build_tree(SharedLibraryDependenciesLayer{{"/bin/ls"}, {}});
  EXPECT_FALSE(fs::exists(fs::symlink_status(tree / "bin/ls")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(tree / "usr/bin/ls")));
  auto ls = SharedLibraryResolver({}).resolve({"/bin/ls"});
  ASSERT_FALSE(ls.empty());
  for (const auto& lib : ls) EXPECT_TRUE(resolves_in(tree, lib)) << lib;

  PrefixOptions follow;
  follow.follow_symlinks = true;
  fs::path flat = build_tree(SharedLibraryDependenciesLayer{{"/bin/ls"}, follow});
  for (const auto& lib : ls)
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(flat / lib.relative_path()))) << lib;

  if (fs::exists("/bin/busybox")) {
    EXPECT_EQ(listing(build_tree(SharedLibraryDependenciesLayer{{"/bin/busybox"}, {}})),
              std::set<std::string>{});
  }
  EXPECT_THROW(builder_.build(SharedLibraryDependenciesLayer{{"no/such/binary"}, {}}), UserError);
}

TEST_F(LayerBuilderTest, DeterministicAcrossStores) {
  write(project() / "src/x.txt", "x");
  write(project() / "src/y.txt", "y");
  LayerSpec spec = GlobLayer{"src/*", {}};
  Digest first = builder_.build(spec);
  mael::testing::TempDir other;
  ArtifactStore store2(other.path() / "cache");
  LayerBuilder builder2(store2, project());
  EXPECT_EQ(builder2.build(spec), first);
  EXPECT_EQ(builder_.build(StubsLayer{{"/a/{b,c}"}}), builder2.build(StubsLayer{{"/a/{c,b}"}}));
}

TEST_F(LayerBuilderTest, MemoizedUntilAnInputChanges) {
  fs::path f = project() / "data.txt";
  write(f, "one");
  LayerSpec spec = PathsLayer{{"data.txt"}, {}};
  Digest d1 = builder_.build(spec);
  EXPECT_EQ(builder_.build(spec), d1);
  // Rewrite in place with the same size and put the mtime back: the ctime still moves, so the
  // layer is rebuilt with the new bytes (no stale contents).
  struct stat st;
  ASSERT_EQ(stat(f.c_str(), &st), 0);
  write(f, "two");
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, f.c_str(), ts, 0), 0);
  Digest d2 = builder_.build(spec);
  EXPECT_NE(d2, d1);
  EXPECT_EQ(read_text(store_.tree(d2).path() / "data.txt"), "two");
  // Touching it changes the key too.
  ts[1].tv_sec += 10;
  ASSERT_EQ(utimensat(AT_FDCWD, f.c_str(), ts, 0), 0);
  Digest d3 = builder_.build(spec);
  EXPECT_NE(d3, d2);
  EXPECT_EQ(read_text(store_.tree(d3).path() / "data.txt"), "two");
  // The memo survives a new builder (and store reopen would too: it is on disk).
  LayerBuilder again(store_, project());
  EXPECT_EQ(again.build(spec), d3);
}

// A test binary's layer: a byte-identical rewrite (a clean rebuild) is the same layer, though the
// file's mtime moved; another content is not. Without synthetic_mtimes, the mtime counts.
TEST_F(LayerBuilderTest, SyntheticMtimesMakeAByteIdenticalRewriteTheSameLayer) {
  fs::path f = project() / "bin/test-binary";
  write(f, "binary bytes");
  PathsLayer timeless{{"bin/test-binary"}, {}};
  timeless.prefix.strip_prefix = "bin";
  timeless.synthetic_mtimes = true;
  PathsLayer timed = timeless;
  timed.synthetic_mtimes = false;
  Digest t1 = builder_.build(timeless), m1 = builder_.build(timed);
  EXPECT_NE(t1, m1);
  struct stat st;
  ASSERT_EQ(stat(f.c_str(), &st), 0);
  fs::remove(f);
  write(f, "binary bytes");
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ts[1].tv_sec += 100;
  ASSERT_EQ(utimensat(AT_FDCWD, f.c_str(), ts, 0), 0);
  EXPECT_EQ(builder_.build(timeless), t1);
  EXPECT_NE(builder_.build(timed), m1);
  write(f, "other bytes!");
  EXPECT_NE(builder_.build(timeless), t1);
}

TEST_F(LayerBuilderTest, ConcurrentBuildsAgree) {
  for (int i = 0; i < 50; ++i) write(project() / ("f" + std::to_string(i)), std::string(1000, 'a' + i % 26));
  std::vector<Digest> got(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] { got[i] = builder_.build(GlobLayer{"f*", {}}); });
  for (auto& t : threads) t.join();
  for (const auto& d : got) EXPECT_EQ(d, got[0]);
}

TEST_F(LayerBuilderTest, CommandLayer) {
  write(project() / "input", "from project");
  fs::path tree =
      build_tree(CommandLayer{"sh", {"-c", "mkdir -p out/d && cp input out/d/f && tar -C out -cf - d"}});
  EXPECT_EQ(read_text(tree / "d/f"), "from project");
  fs::path gz = build_tree(CommandLayer{"sh", {"-c", "mkdir -p o2 && echo z > o2/z && tar -czf - o2"}});
  EXPECT_EQ(read_text(gz / "o2/z"), "z\n");
  EXPECT_EQ(listing(build_tree(CommandLayer{"true", {}})), std::set<std::string>{});
  try {
    builder_.build(CommandLayer{"sh", {"-c", "echo first >&2; echo 'it broke' >&2; exit 3"}});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "command layer 'sh -c echo first >&2; echo 'it broke' >&2; exit 3' failed with exit code 3: it "
              "broke");
  }
  EXPECT_THROW(builder_.build(CommandLayer{"echo", {"not a tar"}}), UserError);
  EXPECT_THROW(builder_.build(CommandLayer{"no-such-program-xyz", {}}), UserError);
}

// The tools block SIGINT and friends for their signal threads; a command layer's program must
// not inherit that (it could not be interrupted), and it is reaped however its layer ends.
TEST_F(LayerBuilderTest, CommandLayerProgramGetsTheDefaultSignalMask) {
  fs::create_directories(project());
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  std::string message;
  try {
    builder_.build(CommandLayer{"sh", {"-c", "grep SigBlk /proc/self/status >&2; exit 1"}});
  } catch (const UserError& e) {
    message = e.what();
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_TRUE(message.ends_with("failed with exit code 1: SigBlk:\t0000000000000000")) << message;
  // No child is left behind, reaped or not.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
