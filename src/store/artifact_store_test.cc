#include "store/artifact_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/test_temp_dir.h"
#include "store/tar_extract.h"
#include "store/test_tar_util.h"

namespace fs = std::filesystem;
using namespace mael;
using namespace mael::testing;

namespace {

TEST(ArtifactStore, AddBytesAndFiles) {
  TempDir t;
  ArtifactStore store(t.path() / "cache");
  Digest d = store.add_blob_bytes("hello");
  EXPECT_EQ(d, Digest::of_bytes("hello"));
  EXPECT_TRUE(store.has_blob(d));
  EXPECT_EQ(read_text(*store.blob_path(d)), "hello");
  EXPECT_EQ(store.blob_size(d), 5u);
  EXPECT_EQ(store.add_blob_bytes("hello"), d);  // idempotent
  EXPECT_EQ(store.size_bytes(), 5u);

  fs::path src = t.path() / "src";
  std::ofstream(src) << "file contents";
  Digest f = store.add_blob_file(src);
  EXPECT_EQ(f, Digest::of_bytes("file contents"));
  std::ofstream(src) << "changed";  // the store has its own copy
  EXPECT_EQ(read_text(*store.blob_path(f)), "file contents");
  EXPECT_THROW(store.add_blob_file(t.path() / "missing"), UserError);
  EXPECT_FALSE(store.blob_path(Digest::of_bytes("nope")));
  auto fd = store.open_blob(d);
  ASSERT_TRUE(fd);
  char buf[8];
  EXPECT_EQ(read(fd->get(), buf, sizeof buf), 5);
}

TEST(ArtifactStore, BlobWriterVerifiesAndLeavesNothingOnMismatch) {
  TempDir t;
  ArtifactStore store(t.path() / "cache");
  {
    auto w = store.begin_blob(Digest::of_bytes("abc"));
    w.write("ab");
    w.write("c");
    EXPECT_EQ(w.commit(), Digest::of_bytes("abc"));
  }
  EXPECT_TRUE(store.has_blob(Digest::of_bytes("abc")));
  {
    auto w = store.begin_blob(Digest::of_bytes("expected"));
    w.write("something else");
    try {
      w.commit();
      FAIL() << "no mismatch reported";
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()), "artifact digest mismatch: expected " +
                                           Digest::of_bytes("expected").hex() + ", got " +
                                           Digest::of_bytes("something else").hex());
    }
  }
  EXPECT_FALSE(store.has_blob(Digest::of_bytes("something else")));
  EXPECT_FALSE(store.has_blob(Digest::of_bytes("expected")));
  {
    auto w = store.begin_blob();
    w.write("abandoned");
  }  // not committed
  EXPECT_FALSE(store.has_blob(Digest::of_bytes("abandoned")));
  EXPECT_EQ(count_entries(t.path() / "cache/tmp"), 0u);
  EXPECT_EQ(count_entries(t.path() / "cache/blobs"), 1u);
}

TEST(ArtifactStore, TreeExtractsAndPins) {
  TempDir t;
  ArtifactStore store(t.path() / "cache");
  Digest d = store.add_blob_bytes(make_tar({tdir("bin", 0555), tfile("bin/tool", "#!x", 0755)}));
  auto ref = store.tree(d);
  EXPECT_EQ(read_text(ref.path() / "bin/tool"), "#!x");
  EXPECT_TRUE(store.has_tree(d));
  EXPECT_GT(store.size_bytes(), 0u);
  auto again = store.tree(d);
  EXPECT_EQ(again.path(), ref.path());
  EXPECT_EQ(store.extraction_count(), 1u);
  EXPECT_THROW(store.tree(Digest::of_bytes("absent")), std::runtime_error);
  Digest bad = store.add_blob_bytes("not a tar, definitely not a tar archive");
  EXPECT_THROW(store.tree(bad), UserError);
  EXPECT_FALSE(store.has_tree(bad));
  EXPECT_EQ(count_entries(t.path() / "cache/tmp"), 0u);
}

TEST(ArtifactStore, ConcurrentTreeExtractsOnce) {
  TempDir t;
  ArtifactStore store(t.path() / "cache");
  std::vector<TarItem> items;
  for (int i = 0; i < 200; ++i) items.push_back(tfile("f" + std::to_string(i), std::string(1000, 'a')));
  Digest d = store.add_blob_bytes(make_tar(items));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto ref = store.tree(d);
      if (read_text(ref.path() / "f199") == std::string(1000, 'a')) ++ok;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(store.extraction_count(), 1u);
}

TEST(ArtifactStore, EvictsLeastRecentlyUsedUnderBound) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 25000);
  Digest a = store.add_blob_bytes(std::string(10000, 'a'));
  Digest b = store.add_blob_bytes(std::string(10000, 'b'));
  ASSERT_TRUE(store.blob_path(a));  // a is now more recent than b
  Digest c = store.add_blob_bytes(std::string(10000, 'c'));
  EXPECT_TRUE(store.has_blob(a));
  EXPECT_FALSE(store.has_blob(b));
  EXPECT_TRUE(store.has_blob(c));
  EXPECT_EQ(store.size_bytes(), 20000u);
  EXPECT_FALSE(fs::exists(t.path() / "cache/blobs" / b.hex()));
  // An entry bigger than the bound is kept until something newer arrives.
  Digest big = store.add_blob_bytes(std::string(30000, 'x'));
  EXPECT_TRUE(store.has_blob(big));
  EXPECT_FALSE(store.has_blob(a));
  EXPECT_FALSE(store.has_blob(c));
}

TEST(ArtifactStore, PinnedTreesAreNotEvicted) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 40000);
  Digest a = store.add_blob_bytes(make_tar({tfile("a", std::string(8000, 'a'))}));
  std::optional<ArtifactStore::TreeRef> pinned = store.tree(a);
  ASSERT_TRUE(store.has_tree(a));
  for (char ch = 'b'; ch < 'h'; ++ch) store.add_blob_bytes(std::string(9000, ch));
  EXPECT_TRUE(store.has_tree(a));
  EXPECT_TRUE(fs::exists(pinned->path() / "a"));
  EXPECT_LE(store.size_bytes(), 40000u);
  pinned.reset();  // unpinning lets it go when over the bound
  store.add_blob_bytes(std::string(9000, 'z'));
  EXPECT_FALSE(store.has_tree(a));
  EXPECT_LE(store.size_bytes(), 40000u);
  EXPECT_EQ(count_entries(t.path() / "cache/tmp"), 0u);
}

TEST(ArtifactStore, PinnedBlobsAreNotEvicted) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 25000);
  EXPECT_FALSE(store.pin_blob(Digest::of_bytes("absent")));
  Digest a = store.add_blob_bytes(std::string(10000, 'a'));
  ASSERT_TRUE(store.pin_blob(a));
  for (char ch = 'b'; ch < 'h'; ++ch) store.add_blob_bytes(std::string(10000, ch));
  EXPECT_TRUE(store.has_blob(a));  // the oldest, yet kept
  EXPECT_LE(store.size_bytes(), 25000u);
  store.unpin_blob(a);
  store.add_blob_bytes(std::string(10000, 'z'));
  EXPECT_FALSE(store.has_blob(a));
}

// A job's layers are added one by one and then pinned: with a cache bound of 0
// each add would evict the previous one unless eviction waits for the pins.
TEST(ArtifactStore, EvictionHoldKeepsBlobsUntilPinned) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 0);
  std::vector<Digest> layers;
  ArtifactStore::PinnedBlobs pins;
  {
    ArtifactStore::EvictionHold hold = store.hold_eviction();
    for (char ch = 'a'; ch < 'd'; ++ch) layers.push_back(store.add_blob_bytes(std::string(1000, ch)));
    for (const Digest& d : layers) EXPECT_TRUE(store.has_blob(d));
    pins = store.pin_blobs(layers);
  }
  EXPECT_EQ(pins.size(), 3u);
  // The bound holds for what is not pinned (the blob just added stays until the next eviction).
  Digest other = store.add_blob_bytes("unpinned");
  store.add_blob_bytes("next");
  EXPECT_FALSE(store.has_blob(other));
  for (const Digest& d : layers) EXPECT_TRUE(store.has_blob(d));
  pins.release();
  EXPECT_EQ(store.size_bytes(), 0u);
  for (const Digest& d : layers) EXPECT_FALSE(store.has_blob(d));

  // pin_blobs pins all or none.
  Digest kept = store.add_blob_bytes("x");
  store.add_blob_bytes("x2");
  EXPECT_FALSE(store.has_blob(kept));
  {
    ArtifactStore::EvictionHold hold = store.hold_eviction();
    Digest present = store.add_blob_bytes("y");
    EXPECT_THROW(store.pin_blobs({present, kept}), std::runtime_error);
  }
  EXPECT_EQ(store.size_bytes(), 0u);  // "y" was not left pinned; the hold's end evicted it
}

// The worker pins a job's layers one by one as they arrive, and lets go of all at once.
TEST(ArtifactStore, PinnedBlobsGrowOneByOne) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 0);
  ArtifactStore::PinnedBlobs pins = store.pin_blobs({});
  EXPECT_FALSE(pins.add(Digest::of_bytes("absent")));
  Digest a = store.add_blob_bytes("a");
  EXPECT_TRUE(pins.add(a));
  Digest b = store.add_blob_bytes("b");  // would evict `a` were it not pinned
  EXPECT_TRUE(pins.add(b));
  store.add_blob_bytes("c");
  EXPECT_TRUE(store.has_blob(a) && store.has_blob(b));
  EXPECT_EQ(pins.size(), 2u);
  pins.release();
  EXPECT_EQ(store.size_bytes(), 0u);
}

TEST(ArtifactStore, PersistsAcrossReopen) {
  TempDir t;
  fs::path root = t.path() / "cache";
  Digest a, b, c;
  uint64_t size;
  {
    ArtifactStore store(root, 1 << 20);
    a = store.add_blob_bytes(make_tar({tfile("x", "y")}));
    b = store.add_blob_bytes(std::string(10000, 'b'));
    c = store.add_blob_bytes(std::string(10000, 'c'));
    store.tree(a);
    store.record_memo("layer key", b);
    store.record_memo("key of c", c);
    ASSERT_TRUE(store.blob_path(b));  // b more recent than c
    size = store.size_bytes();
  }
  // Leftovers of a crashed process are cleaned.
  fs::create_directories(root / "tmp/tree-123-4/root/sub");
  {
    ArtifactStore store(root, 1 << 20);
    EXPECT_TRUE(store.has_blob(a));
    EXPECT_TRUE(store.has_tree(a));
    EXPECT_EQ(store.size_bytes(), size);
    EXPECT_EQ(store.lookup_memo("layer key"), b);
    EXPECT_EQ(store.lookup_memo("other key"), std::nullopt);
    EXPECT_EQ(count_entries(root / "tmp"), 0u);
    EXPECT_EQ(read_text(store.tree(a).path() / "x"), "y");
    EXPECT_EQ(store.extraction_count(), 0u);
  }
  {
    // A smaller bound evicts in LRU order recorded before: c (older) goes.
    ArtifactStore store(root, size - 5000);
    EXPECT_FALSE(store.has_blob(c));
    EXPECT_TRUE(store.has_blob(b));
    EXPECT_EQ(store.lookup_memo("key of c"), std::nullopt);
  }
}

TEST(ArtifactStore, SecondProcessIsRefused) {
  TempDir t;
  fs::path root = t.path() / "cache";
  ArtifactStore store(root);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    std::string msg = "opened";
    try {
      ArtifactStore other(root);
    } catch (const UserError& e) {
      msg = e.what();
    } catch (...) {
      msg = "other exception";
    }
    if (write(pipefd[1], msg.data(), msg.size()) < 0) _exit(2);
    _exit(0);
  }
  close(pipefd[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  EXPECT_EQ(got, "cache directory " + root.string() +
                     " is in use by another process; use --cache-root to pick another");
}

TEST(ArtifactStore, LayerOverTheCacheSizeIsRefusedNamedAndLeavesNothing) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 1 << 20);
  Digest d = store.add_blob_bytes(make_tar({tfile("big", std::string(2 << 20, 'x'))}, Compression::kZstd));
  store.set_label(d, "tar layer big.tar");
  try {
    store.tree(d);
    ADD_FAILURE() << "extracted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "tar layer big.tar (sha256:" + d.hex().substr(0, 12) +
                                         ") expands to more than 1048576 bytes (the cache size; raise "
                                         "--cache-size); refused");
  }
  EXPECT_FALSE(store.has_tree(d));
  EXPECT_EQ(count_entries(t.path() / "cache/tmp"), 0u);
  EXPECT_EQ(store.describe(Digest::of_bytes("x")), "layer sha256:" + Digest::of_bytes("x").hex());
  // A configured bound below the cache size applies, named as such.
  TempDir t2;
  ArtifactStore small(t2.path() / "cache", 1 << 30, ArtifactStoreOptions{.max_layer_bytes = 100000});
  EXPECT_EQ(small.layer_limits().max_bytes, 100000u);
  EXPECT_EQ(small.layer_bytes_hint(), "the limit for one layer");
}

TEST(ArtifactStore, DirectoriesArePrivateAndTheOwnerIsRecorded) {
  TempDir t;
  fs::path root = t.path() / "cache";
  ArtifactStore store(root);
  for (const char* d : {"", "blobs", "trees", "memo", "tmp"})
    EXPECT_EQ(fs::status(root / d).permissions(), fs::perms(0700)) << d;
  EXPECT_EQ(read_text(root / "owner"), std::to_string(geteuid()) + ":" + std::to_string(getegid()) + "\n");
}

TEST(ArtifactStore, TreesOfAnotherOwnerAreExtractedAgainBlobsKept) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  TempDir t;
  fs::path root = t.path() / "cache";
  std::string tar = make_tar({tdir("d", 0755), tfile("d/f", "x"), tsymlink("l", "d/f")});
  Digest d;
  {
    ArtifactStore store(root);
    d = store.add_blob_bytes(tar);
    struct stat st;
    ASSERT_EQ(lstat((store.tree(d).path() / "d/f").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
  }
  {
    ArtifactStore store(root, ArtifactStore::kDefaultSizeLimit,
                        ArtifactStoreOptions{.owner = FileOwner{65534, 65534}});
    EXPECT_TRUE(store.has_blob(d));
    EXPECT_FALSE(store.has_tree(d));
    auto ref = store.tree(d);
    for (const char* p : {"", "d", "d/f", "l"}) {
      struct stat st;
      ASSERT_EQ(lstat((ref.path() / p).c_str(), &st), 0);
      EXPECT_EQ(st.st_uid, 65534u) << p;
      EXPECT_EQ(st.st_gid, 65534u) << p;
    }
    EXPECT_EQ(read_text(root / "owner"), "65534:65534\n");
  }
  {
    ArtifactStore store(root, ArtifactStore::kDefaultSizeLimit,
                        ArtifactStoreOptions{.owner = FileOwner{65534, 65534}});
    EXPECT_TRUE(store.has_tree(d));  // same owner: kept
  }
  ArtifactStore store(root);
  EXPECT_FALSE(store.has_tree(d));
  EXPECT_TRUE(store.has_blob(d));
}

TEST(ArtifactStore, OpensPastDeepLeftoversInTmp) {
  TempDir t;
  fs::path root = t.path() / "cache";
  { ArtifactStore store(root); }
  // What a crashed extraction of a hostile layer leaves: a tree deeper than PATH_MAX.
  std::string deep;
  for (int i = 0; i < 2100; ++i) deep += "d/";
  std::ofstream(t.path() / "deep.tar", std::ios::binary) << make_tar({tfile(deep + "f", "x")});
  extract_tar(t.path() / "deep.tar", root / "tmp/tree-1-1/root");
  ArtifactStore store(root);
  EXPECT_EQ(count_entries(root / "tmp"), 0u);
}

TEST(ArtifactStore, SecondOpenWaitsForTheFirstWhenAsked) {
  TempDir t;
  fs::path root = t.path() / "cache";
  auto first = std::make_unique<ArtifactStore>(root);
  std::atomic<int> told = 0;
  std::atomic<bool> opened = false;
  std::thread second([&] {
    ArtifactStoreOptions o;
    o.wait_for_lock = true;
    o.on_lock_wait = [&](const fs::path& r) {
      EXPECT_EQ(r, root);
      ++told;
    };
    ArtifactStore store(root, ArtifactStore::kDefaultSizeLimit, std::move(o));
    opened = true;
  });
  while (told == 0) std::this_thread::yield();
  EXPECT_FALSE(opened);
  first.reset();
  second.join();
  EXPECT_TRUE(opened);
  EXPECT_EQ(told, 1);
}

TEST(ArtifactStore, MemoForgetsEvictedBlobs) {
  TempDir t;
  ArtifactStore store(t.path() / "cache", 15000);
  Digest a = store.add_blob_bytes(std::string(10000, 'a'));
  store.record_memo("k", a);
  EXPECT_EQ(store.lookup_memo("k"), a);
  store.add_blob_bytes(std::string(10000, 'b'));
  EXPECT_EQ(store.lookup_memo("k"), std::nullopt);
}

}  // namespace
