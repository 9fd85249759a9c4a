#include "image/blob_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/error.h"
#include "image/test_util.h"

namespace mael {
namespace {

using testing::ScratchDir;

TEST(BlobStore, PutReadAndMismatch) {
  ScratchDir dir;
  BlobStore store(dir.path());
  Digest d = Digest::of_bytes("hello");
  store.put(d, "hello", "greeting");
  EXPECT_TRUE(store.has(d));
  EXPECT_EQ(store.read(d), "hello");
  Digest other = Digest::of_bytes("other");
  try {
    store.put(other, "not other", "thing");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("thing: digest mismatch")) << e.what();
  }
  EXPECT_FALSE(store.has(other));
  auto partial = store.blob_path(other);
  partial += ".partial";
  EXPECT_FALSE(std::filesystem::exists(partial));
}

TEST(BlobStore, PartialFileIsHandedToTheNextFill) {
  ScratchDir dir;
  BlobStore store(dir.path());
  Digest d = Digest::of_bytes("abcdef");
  auto partial = store.blob_path(d);
  partial += ".partial";
  testing::write_text(partial, "abc");
  store.ensure(
      d,
      [&](const std::filesystem::path& p) {
        EXPECT_EQ(testing::read_text(p), "abc");
        std::ofstream(p, std::ios::app) << "def";
        return Digest::of_file(p);
      },
      "x");
  EXPECT_EQ(store.read(d), "abcdef");
  EXPECT_FALSE(std::filesystem::exists(partial));
}

TEST(BlobStore, ConcurrentEnsureFillsOnce) {
  ScratchDir dir;
  BlobStore store(dir.path());
  Digest d = Digest::of_bytes(std::string(100000, 'x'));
  std::atomic<int> fills{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      BlobStore mine(dir.path());  // as another process would
      mine.ensure(
          d,
          [&](const std::filesystem::path& p) {
            ++fills;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            testing::write_text(p, std::string(100000, 'x'));
            return Digest::of_file(p);
          },
          "x");
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fills.load(), 1);
  EXPECT_TRUE(store.has(d));
}

}  // namespace
}  // namespace mael
