// The depot's size bound: LRU eviction of images nobody uses, with pins held
// by this and by another process (tools/maelstrom-image-pull --hold).
#include "image/depot_gc.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "base/subprocess.h"
#include "base/unique_fd.h"
#include "image/blob_store.h"
#include "image/image_depot.h"
#include "image/test_util.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using testing::run;
using testing::ScratchDir;

fs::path pull_tool() {
  const char* build = std::getenv("MAEL_BUILD_DIR");
  fs::path dir = build ? fs::path(build) : fs::read_symlink("/proc/self/exe").parent_path() / ".." / "..";
  return dir / "bin" / "maelstrom-image-pull";
}

class DepotGcTest : public ::testing::Test {
 protected:
  // Three OCI layouts: a shared busybox layer and 1 MB of their own each.
  static void SetUpTestSuite() {
    images_ = new ScratchDir();
    for (const char* n : {"a", "b", "c"}) {
      run({"python3", testing::helper_script().string(), "build", "--kind", "big", "--size-mb", "1", "--out",
           (images_->path() / n).string()});
    }
  }
  static void TearDownTestSuite() { delete images_; }

  static std::string image(const std::string& n) { return "oci:" + (images_->path() / n).string(); }
  ImageOptions options(uint64_t limit) {
    ImageOptions o;
    o.depot_root = depot_.path();
    o.progress = false;
    o.size_limit = limit;
    return o;
  }
  bool has_layers(const ImageInfo& info) {
    for (const auto& l : info.layers) {
      if (!fs::exists(l.tar_path)) return false;
    }
    return true;
  }
  size_t records() {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(depot_.path() / "images"))
      n += e.path().extension() == ".json";
    return n;
  }
  // Sets the last use of the image's record.
  void age(const ImageInfo& info, std::chrono::hours by) {
    for (const auto& e : fs::directory_iterator(depot_.path() / "images")) {
      if (e.path().filename().string().starts_with(info.manifest_digest.hex())) {
        fs::last_write_time(e.path(), fs::file_time_type::clock::now() - by);
        return;
      }
    }
    ADD_FAILURE() << "no record for " << info.name;
  }

  static inline ScratchDir* images_ = nullptr;
  ScratchDir depot_;
};

TEST_F(DepotGcTest, EvictsLeastRecentlyUsedUnpinnedImage) {
  ImageInfo a, b;
  {
    ImageDepot d(options(0));
    a = d.get(image("a"));
    b = d.get(image("b"));
  }
  ASSERT_EQ(a.layers[0].digest, b.layers[0].digest);  // busybox, shared
  uint64_t two = depot_blob_bytes(depot_.path());
  age(a, std::chrono::hours(2));
  age(b, std::chrono::hours(1));
  {
    // Using a again makes b the least recently used.
    ImageDepot d(options(0));
    d.get(image("a"));
  }
  // Room for two images: pulling c evicts b only.
  ImageDepot d(options(two + two / 4));
  ImageInfo c = d.get(image("c"));
  EXPECT_TRUE(has_layers(a));
  EXPECT_TRUE(has_layers(c));
  EXPECT_TRUE(fs::exists(b.layers[0].tar_path));  // still needed by a and c
  EXPECT_FALSE(fs::exists(b.layers[1].tar_path));
  EXPECT_EQ(records(), 2u);
  EXPECT_LE(depot_blob_bytes(depot_.path()), two + two / 4);
  // b comes back on demand.
  EXPECT_TRUE(has_layers(ImageDepot(options(0)).get(image("b"))));
}

TEST_F(DepotGcTest, ImagesInUseByAnyProcessStay) {
  // Another process holds a (until its stdin ends).
  UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ChildProcess holder(
      {pull_tool().string(), "--depot", depot_.path().string(), "--size-limit", "0", "--hold", image("a")},
      ChildOptions{.stderr_to = devnull.get(), .stdin_pipe = true});
  std::string output;
  char buf[256];
  for (ssize_t n;
       output.find("HELD\n") == std::string::npos && (n = ::read(holder.stdout_fd(), buf, sizeof buf)) > 0;) {
    output.append(buf, static_cast<size_t>(n));
  }
  ASSERT_NE(output.find("HELD\n"), std::string::npos) << output;

  {
    // A bound of one byte: nothing fits, but a (theirs) and b (ours) are in use.
    ImageDepot d(options(1));
    ImageInfo b = d.get(image("b"));
    EXPECT_EQ(records(), 2u);
    ImageInfo a = ImageDepot(options(0)).get(image("a"));  // already there, nothing pulled
    EXPECT_TRUE(has_layers(a));
    // The other process ends: a goes at the next eviction, b stays while d lives.
    holder.close_stdin();
    holder.wait();
    EXPECT_TRUE(d.evict_if_needed());
    EXPECT_TRUE(has_layers(b));
    EXPECT_FALSE(fs::exists(a.layers[1].tar_path));
    EXPECT_EQ(records(), 1u);
  }
  // Nobody uses anything now.
  EXPECT_TRUE(ImageDepot(options(1)).evict_if_needed());
  EXPECT_EQ(records(), 0u);
  EXPECT_EQ(depot_blob_bytes(depot_.path()), 0u);
}

TEST_F(DepotGcTest, WaitsForNoPullAndDropsPartialDownloads) {
  ImageDepot d(options(0));
  d.get(image("a"));
  fs::path partial = depot_.path() / "blobs" / "sha256" / (std::string(64, 'e') + ".partial");
  testing::write_text(partial, "half a blob");
  ImageDepot small(options(1));
  {
    // Someone is pulling: eviction is skipped, not waited for.
    FileLock pulling(depot_.path() / "locks" / "depot.lock", FileLock::Mode::kShared);
    EXPECT_FALSE(small.evict_if_needed());
    EXPECT_TRUE(fs::exists(partial));
  }
  EXPECT_TRUE(small.evict_if_needed());
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(records(), 1u);  // a is pinned by d
}

TEST(DepotGcDefaults, BoundIsOnByDefault) {
  EXPECT_EQ(ImageOptions().size_limit, kDefaultDepotSizeLimit);
  EXPECT_GT(kDefaultDepotSizeLimit, uint64_t{1} << 30);
}

}  // namespace
}  // namespace mael
