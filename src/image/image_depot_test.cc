// End-to-end tests of the image depot against real components: a
// docker-registry on loopback, images written by tests/images/registry.py and
// pushed or converted by skopeo.
#include "image/image_depot.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/base64.h"
#include "base/error.h"
#include "base/tar_reader.h"
#include "base/test_errors.h"
#include "image/credentials.h"
#include "image/manifest.h"
#include "image/tag_lock.h"
#include "image/test_util.h"

namespace mael {
namespace {

using testing::user_error_of;

namespace fs = std::filesystem;
using testing::run;
using testing::ScratchDir;
using testing::TestRegistry;

std::set<std::string> tar_entries(const fs::path& p) {
  archive* a = new_tar_reader();
  std::set<std::string> names;
  EXPECT_EQ(archive_read_open_filename(a, p.c_str(), 65536), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) names.insert(archive_entry_pathname(e));
  archive_read_free(a);
  return names;
}

std::string magic(const fs::path& p) {
  return testing::read_text(p).substr(0, 4);
}

bool process_gone(pid_t pid) {
  return ::kill(pid, 0) < 0 && errno == ESRCH;
}

// One registry and the test images for the whole suite.
class ImageDepotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new ScratchDir();
    testing::isolate_registry_settings(shared_->path());
    for (const char* kind : {"basic", "multiarch"}) testing::build_test_image(*shared_ / kind, {"--kind", kind});
    testing::build_test_image(*shared_ / "nozstd", {"--no-zstd"});
    registry_ = new TestRegistry(shared_->path() / "registry");
    push("basic", "basic:v1");
    push("multiarch", "multi:latest");
  }
  static void TearDownTestSuite() {
    pid_t pid = registry_->registry_pid();
    delete registry_;
    EXPECT_TRUE(process_gone(pid)) << "registry still running";
    delete shared_;
  }

  static void push(const std::string& layout, const std::string& to, const std::string& creds = "",
                   const std::string& address = "") {
    testing::push_test_image(*shared_ / layout, (address.empty() ? addr() : address) + "/" + to, creds);
  }
  static std::string addr() { return registry_->address(); }

  ImageOptions options(const std::string& platform = "") {
    ImageOptions o;
    o.depot_root = depot_.path();
    o.project_dir = project_.path();
    o.progress = false;
    o.platform = platform;
    return o;
  }
  fs::path lock_path() { return project_.path() / std::string(kTagLockFileName); }
  size_t blob_count() {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(depot_.path() / "blobs" / "sha256")) {
      n += e.path().extension() != ".partial";
    }
    return n;
  }

  void expect_basic(const ImageInfo& info) {
    ASSERT_EQ(info.layers.size(), 3u);
    for (const auto& l : info.layers) {
      EXPECT_EQ(Digest::of_file(l.tar_path), l.digest);
      EXPECT_TRUE(l.tar_path.string().starts_with(depot_.path().string()));
    }
    // Bottom to top, whiteouts kept for the extractor.
    auto bottom = tar_entries(info.layers[0].tar_path);
    EXPECT_TRUE(bottom.count("bin/busybox") && bottom.count("etc/hidden.txt"));
    auto middle = tar_entries(info.layers[1].tar_path);
    EXPECT_TRUE(middle.count("etc/.wh.hidden.txt") && middle.count("opq/.wh..wh..opq"));
    EXPECT_TRUE(tar_entries(info.layers[2].tar_path).count("data/top.txt"));
    EXPECT_EQ(info.working_directory, "/data");
  }

  static inline ScratchDir* shared_ = nullptr;
  static inline TestRegistry* registry_ = nullptr;
  ScratchDir depot_;
  ScratchDir project_;
};

TEST_F(ImageDepotTest, PullsFromRegistryAndPinsTag) {
  ImageDepot depot(options());
  std::string name = "docker://" + addr() + "/basic:v1";
  ImageInfo info = depot.get(name);
  EXPECT_EQ(info.name, name);
  expect_basic(info);
  EXPECT_EQ(info.environment, (std::vector<std::string>{"PATH=/bin", "IMAGE_VAR=basic"}));
  // gzip, zstd and plain layers stored as served.
  EXPECT_EQ(magic(info.layers[0].tar_path).substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(magic(info.layers[1].tar_path), "\x28\xb5\x2f\xfd");
  EXPECT_EQ(tar_entries(info.layers[2].tar_path).size(), 2u);
  EXPECT_EQ(testing::read_text(lock_path()), "version = 1\n\n[\"" + addr() + "/basic\"]\nv1 = \"sha256:" +
                                                 info.manifest_digest.hex() + "\"\n");
  // The same object answers again from memory; a second depot from disk.
  EXPECT_EQ(depot.get(name).manifest_digest, info.manifest_digest);
  ImageDepot again(options());
  EXPECT_EQ(again.get(name).layers.size(), 3u);
}

TEST_F(ImageDepotTest, MultiPlatformIndex) {
  std::string name = "docker://" + addr() + "/multi";
  ImageInfo native = ImageDepot(options()).get(name);
  EXPECT_EQ(native.environment[1], "IMAGE_VAR=native");
  expect_basic(native);
  // The other platform of the same (pinned) index.
  std::string other = host_platform().architecture == "arm64" ? "linux/amd64" : "linux/arm64/v8";
  ImageInfo o = ImageDepot(options(other)).get(name);
  EXPECT_EQ(o.environment[1], "IMAGE_VAR=other");
  EXPECT_EQ(o.layers.size(), 1u);
  EXPECT_NE(o.manifest_digest, native.manifest_digest);
  std::string err = user_error_of([&] { ImageDepot(options("linux/s390x")).get(name); });
  EXPECT_NE(err.find(name + ": no manifest for platform linux/s390x (available: "), std::string::npos) << err;
  EXPECT_NE(err.find("linux/arm64/v8"), std::string::npos) << err;
  EXPECT_NE(err.find("linux/amd64"), std::string::npos) << err;
}

TEST_F(ImageDepotTest, LockFilePinsUntilTheLineIsRemoved) {
  push("basic", "moving:latest");
  std::string name = "docker://" + addr() + "/moving";
  Digest first = ImageDepot(options()).get(name).manifest_digest;
  // The tag moves in the registry; the lock file keeps the old image.
  push("multiarch", "moving:latest");
  ImageInfo pinned = ImageDepot(options()).get(name);
  EXPECT_EQ(pinned.manifest_digest, first);
  EXPECT_EQ(pinned.environment[1], "IMAGE_VAR=basic");
  // Removing the line re-resolves.
  testing::write_text(lock_path(), "version = 1\n");
  ImageInfo moved = ImageDepot(options()).get(name);
  EXPECT_EQ(moved.environment[1], "IMAGE_VAR=native");
  EXPECT_NE(testing::read_text(lock_path()).find("[\"" + addr() + "/moving\"]"), std::string::npos);
  EXPECT_EQ(testing::read_text(lock_path()).find(first.hex()), std::string::npos);
}

TEST_F(ImageDepotTest, WarmDepotNeedsNoRegistry) {
  ScratchDir reg_dir;
  std::string name, by_digest;
  pid_t pid;
  {
    TestRegistry reg(reg_dir.path());
    pid = reg.registry_pid();
    push("basic", "solo:v2", "", reg.address());
    name = "docker://" + reg.address() + "/solo:v2";
    ImageInfo info = ImageDepot(options()).get(name);
    by_digest = "docker://" + reg.address() + "/solo@sha256:" + info.manifest_digest.hex();
  }
  EXPECT_TRUE(process_gone(pid));
  // Pinned tag and explicit digest both come from the depot.
  EXPECT_EQ(ImageDepot(options()).get(name).layers.size(), 3u);
  EXPECT_EQ(ImageDepot(options()).get(by_digest).layers.size(), 3u);
  // A cold depot must reach the registry, which is gone.
  ImageOptions cold = options();
  ScratchDir cold_root;
  cold.depot_root = cold_root.path();
  std::string host = name.substr(9, name.find('/', 9) - 9);
  EXPECT_EQ(user_error_of([&] { ImageDepot(cold).get(name); }),
            name + ": registry " + host + " unreachable (connection refused)");
}

TEST_F(ImageDepotTest, NotFoundErrors) {
  ImageDepot depot(options());
  std::string missing_repo = "docker://" + addr() + "/nope:v1";
  EXPECT_EQ(user_error_of([&] { depot.get(missing_repo); }),
            missing_repo + ": image not found: no repository nope in registry " + addr());
  std::string missing_tag = "docker://" + addr() + "/basic:v9";
  EXPECT_EQ(user_error_of([&] { depot.get(missing_tag); }),
            missing_tag + ": tag v9 not found in " + addr() + "/basic (available: v1)");
  std::string missing_digest = "docker://" + addr() + "/basic@sha256:" + std::string(64, '0');
  EXPECT_NE(user_error_of([&] { depot.get(missing_digest); }).find("not found"), std::string::npos);
  EXPECT_FALSE(fs::exists(lock_path()));
  EXPECT_NE(user_error_of([&] { depot.get("alpine"); }).find("invalid image name"), std::string::npos);
}

TEST_F(ImageDepotTest, PinnedDigestGoneSaysHowToReResolve) {
  testing::write_text(lock_path(), "version = 1\n\n[\"" + addr() +
                                       "/basic\"]\nv1 = \"sha256:" + std::string(64, '1') + "\"\n");
  std::string err = user_error_of([&] { ImageDepot(options()).get("docker://" + addr() + "/basic:v1"); });
  EXPECT_NE(err.find("pinned in " + lock_path().string()), std::string::npos) << err;
}

TEST_F(ImageDepotTest, MalformedLockFile) {
  testing::write_text(lock_path(), "version = 1\n\n[broken\n");
  std::string name = "docker://" + addr() + "/basic:v1";
  std::string err = user_error_of([&] { ImageDepot(options()).get(name); });
  EXPECT_TRUE(err.starts_with(name + ": " + lock_path().string() + ":3: ")) << err;
}

TEST_F(ImageDepotTest, DigestMismatchKeepsNothing) {
  ScratchDir reg_dir;
  TestRegistry reg(reg_dir.path());
  push("basic", "bad:v1", "", reg.address());
  // Corrupt the top layer's data in the registry's storage.
  ImageInfo good = ImageDepot(options()).get("docker://" + addr() + "/basic:v1");
  std::string hex = good.layers[2].digest.hex();
  fs::path data = reg_dir.path() / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256" /
                  hex.substr(0, 2) / hex / "data";
  ASSERT_TRUE(fs::exists(data));
  std::string bytes = testing::read_text(data);
  bytes[bytes.size() / 2] ^= 1;
  testing::write_text(data, bytes);

  ScratchDir cold_root;
  ImageOptions cold = options();
  cold.depot_root = cold_root.path();
  std::string name = "docker://" + reg.address() + "/bad:v1";
  std::string err = user_error_of([&] { ImageDepot(cold).get(name); });
  EXPECT_TRUE(err.starts_with(name + ": layer sha256:" + hex + ": digest mismatch")) << err;
  EXPECT_FALSE(fs::exists(cold_root.path() / "blobs" / "sha256" / hex));
  EXPECT_FALSE(fs::exists(cold_root.path() / "blobs" / "sha256" / (hex + ".partial")));
  EXPECT_TRUE(fs::is_empty(cold_root.path() / "images"));
}

TEST_F(ImageDepotTest, ResumesPartialDownload) {
  ImageInfo ref = ImageDepot(options()).get("docker://" + addr() + "/basic:v1");
  // A cold depot holding the first half of the bottom layer, as an interrupted pull leaves it.
  ScratchDir cold_root;
  ImageOptions cold = options();
  cold.depot_root = cold_root.path();
  cold.project_dir.clear();
  std::string hex = ref.layers[0].digest.hex();
  std::string whole = testing::read_text(ref.layers[0].tar_path);
  fs::create_directories(cold_root.path() / "blobs" / "sha256");
  testing::write_text(cold_root.path() / "blobs" / "sha256" / (hex + ".partial"),
                      whole.substr(0, whole.size() / 2));
  ImageInfo info = ImageDepot(cold).get("docker://" + addr() + "/basic:v1");
  EXPECT_EQ(testing::read_text(info.layers[0].tar_path), whole);
  EXPECT_FALSE(fs::exists(cold_root.path() / "blobs" / "sha256" / (hex + ".partial")));
}

// The blob requests a FaultProxy logged: digest -> requests in order.
struct ProxiedGet {
  std::optional<std::string> range;
  int status;
  int64_t sent;
  int inflight;
};
std::map<std::string, std::vector<ProxiedGet>> proxy_log(const fs::path& log) {
  std::map<std::string, std::vector<ProxiedGet>> out;
  std::istringstream in(testing::read_text(log));
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    ProxiedGet g{std::nullopt, j["status"].get<int>(), j["sent"].get<int64_t>(), j["inflight"].get<int>()};
    if (j["range"].is_string()) g.range = j["range"].get<std::string>();
    out[j["digest"].get<std::string>()].push_back(g);
  }
  return out;
}

class ImageDepotFaultTest : public ImageDepotTest {
 protected:
  // A cold depot pulling basic:v1 through a proxy injecting `fault`.
  std::string pull_through(const std::string& fault, ImageInfo* info) {
    testing::FaultProxy proxy(addr(), fault, log_.path() / "proxy.log");
    ImageOptions o = options();
    o.project_dir.clear();
    name_ = "docker://" + proxy.address() + "/basic:v1";
    try {
      *info = ImageDepot(o).get(name_);
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  }
  std::map<std::string, std::vector<ProxiedGet>> log() { return proxy_log(log_.path() / "proxy.log"); }
  ScratchDir log_;
  std::string name_;
};

TEST_F(ImageDepotFaultTest, DroppedConnectionsResumeWithRange) {
  ImageInfo info;
  ASSERT_EQ(pull_through("drop", &info), "");
  expect_basic(info);  // every layer's content hashes to its digest
  auto gets = log();
  ASSERT_EQ(gets.size(), 4u);  // config and 3 layers
  for (const auto& [digest, g] : gets) {
    ASSERT_EQ(g.size(), 2u) << digest;
    // The first GET broke off halfway; the second asked for the rest only.
    EXPECT_EQ(g[0].status, 200);
    EXPECT_FALSE(g[0].range);
    EXPECT_EQ(g[1].status, 206);
    EXPECT_EQ(g[1].range, "bytes=" + std::to_string(g[0].sent) + "-");
  }
  EXPECT_EQ(blob_count(), 5u);  // manifest, config, layers; no .partial left
}

TEST_F(ImageDepotFaultTest, WithoutRangeSupportTheRetryStartsOver) {
  ImageInfo info;
  ASSERT_EQ(pull_through("norange", &info), "");
  expect_basic(info);
  for (const auto& [digest, g] : log()) {
    ASSERT_EQ(g.size(), 2u) << digest;
    EXPECT_TRUE(g[1].range) << digest;  // we asked to resume...
    EXPECT_EQ(g[1].status, 200);        // ...got the whole blob, and kept only that
  }
  EXPECT_EQ(blob_count(), 5u);
}

TEST_F(ImageDepotFaultTest, CorruptBlobIsAClearErrorAndLeavesNothing) {
  ImageInfo info;
  std::string err = pull_through("corrupt", &info);
  EXPECT_TRUE(err.starts_with(name_ + ": config sha256:")) << err;
  EXPECT_NE(err.find(": digest mismatch (expected sha256:"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
  // Only the verified manifest stays; no partial file, no image record.
  EXPECT_EQ(blob_count(), 1u);
  for (const auto& e : fs::directory_iterator(depot_.path() / "blobs" / "sha256")) {
    EXPECT_EQ(e.path().extension(), "") << e.path();
    EXPECT_EQ(Digest::of_file(e.path()).hex(), e.path().filename().string());
  }
  EXPECT_TRUE(fs::is_empty(depot_.path() / "images"));
}

TEST_F(ImageDepotFaultTest, LayersDownloadInParallel) {
  ImageInfo info;
  ASSERT_EQ(pull_through("slow", &info), "");
  expect_basic(info);
  // Each blob answer is held back a while, so parallel downloads overlap there.
  int most = 0;
  for (const auto& [digest, g] : log()) most = std::max(most, g[0].inflight);
  EXPECT_GE(most, 2);
}

TEST_F(ImageDepotTest, ConcurrentGetsShareOneDownload) {
  ImageDepot depot(options());
  std::string name = "docker://" + addr() + "/multi:latest";
  std::vector<ImageInfo> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      // Two depots over one root, as two processes would be.
      try {
        ImageDepot own(options());
        results[i] = (i % 2 ? own : depot).get(name);
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    EXPECT_EQ(r.manifest_digest, results[0].manifest_digest);
    expect_basic(r);
  }
  // index + manifest + config + 3 layers, nothing twice or partial.
  EXPECT_EQ(blob_count(), 6u);
}

TEST_F(ImageDepotTest, BasicAuth) {
  ScratchDir reg_dir;
  TestRegistry reg(reg_dir.path(), "alice", "s3cret");
  push("basic", "private:v1", "alice:s3cret", reg.address());
  std::string name = "docker://" + reg.address() + "/private:v1";
  fs::path config = shared_->path() / "docker" / "config.json";
  fs::create_directories(config.parent_path());

  fs::remove(config);
  EXPECT_NE(user_error_of([&] { ImageDepot(options()).get(name); }).find("requires a user name and password"),
            std::string::npos);
  testing::write_text(
      config, R"({"auths":{")" + reg.address() + R"(":{"auth":")" + base64_encode("alice:wrong") + R"("}}})");
  EXPECT_EQ(
      user_error_of([&] { ImageDepot(options()).get(name); }),
      name + ": wrong credentials for registry " + reg.address() + ": access to private denied (HTTP 401)");
  testing::write_text(config, R"({"auths":{")" + reg.address() + R"(":{"auth":")" +
                                  base64_encode("alice:s3cret") + R"("}}})");
  expect_basic(ImageDepot(options()).get(name));
  fs::remove(config);
}

TEST_F(ImageDepotTest, BasicAuthThroughCredentialHelper) {
  ScratchDir reg_dir;
  TestRegistry reg(reg_dir.path(), "alice", "s3cret");
  push("basic", "private:v1", "alice:s3cret", reg.address());
  std::string name = "docker://" + reg.address() + "/private:v1";
  fs::path config = shared_->path() / "docker" / "config.json";
  fs::create_directories(config.parent_path());
  ScratchDir bin;
  testing::PathPrefix path(bin.path());
  auto helper = [&](const std::string& password) {
    // Answers only for this registry, as a real helper does.
    testing::write_credential_helper(
        bin.path(), "test",
        "[ \"$1 $(cat)\" = \"get " + reg.address() + "\" ] || { echo 'credentials not found' ; exit 1; }\n" +
            R"(echo '{"ServerURL":")" + reg.address() + R"(","Username":"alice","Secret":")" + password + "\"}'");
  };
  testing::write_text(config, R"({"credHelpers":{")" + reg.address() + R"(":"test"}})");
  helper("wrong");
  EXPECT_EQ(
      user_error_of([&] { ImageDepot(options()).get(name); }),
      name + ": wrong credentials for registry " + reg.address() + ": access to private denied (HTTP 401)");
  EXPECT_FALSE(fs::exists(depot_.path() / "images") && !fs::is_empty(depot_.path() / "images"));
  helper("s3cret");
  expect_basic(ImageDepot(options()).get(name));
  fs::remove(config);
}

TEST_F(ImageDepotTest, OciLayoutDirectory) {
  ImageDepot depot(options());
  ImageInfo info = depot.get("oci:" + (shared_->path() / "basic").string());
  expect_basic(info);
  EXPECT_EQ(info.environment[1], "IMAGE_VAR=basic");
  // Tag by annotation; the same blobs as through the registry.
  ImageInfo tagged = depot.get("oci:" + (shared_->path() / "basic").string() + ":latest");
  EXPECT_EQ(tagged.manifest_digest, info.manifest_digest);
  // A nested index picks this platform; relative paths start at the project dir.
  fs::copy(shared_->path() / "multiarch", project_.path() / "multi", fs::copy_options::recursive);
  EXPECT_EQ(depot.get("oci:multi").environment[1], "IMAGE_VAR=native");
  std::string missing = "oci:" + (shared_->path() / "basic").string() + ":v7";
  EXPECT_EQ(
      user_error_of([&] { depot.get(missing); }),
      missing + ": tag v7 not found in oci:" + (shared_->path() / "basic").string() + " (available: latest)");
  EXPECT_NE(user_error_of([&] { depot.get("oci:" + project_.path().string()); }).find("no index.json"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(lock_path()));
  ImageInfo pulled = depot.get("docker://" + addr() + "/basic:v1");
  EXPECT_EQ(pulled.layers[1].digest, info.layers[1].digest);
}

TEST_F(ImageDepotTest, OciArchive) {
  fs::path tar = project_.path() / "basic.oci.tar";
  run({"python3", testing::helper_script().string(), "oci-archive", "--layout",
       (shared_->path() / "basic").string(), "--out", tar.string()});
  ImageDepot depot(options());
  expect_basic(depot.get("oci-archive:" + tar.string()));
  // The scratch copy is gone.
  EXPECT_TRUE(fs::is_empty(depot_.path() / "tmp"));

  fs::path junk = project_.path() / "junk.tar";
  testing::write_text(junk, std::string(3000, 'j'));
  std::string err = user_error_of([&] { depot.get("oci-archive:" + junk.string()); });
  EXPECT_NE(err.find("corrupt archive " + junk.string()), std::string::npos) << err;
  // Truncated in the middle of a blob.
  std::string bytes = testing::read_text(tar);
  fs::path cut = project_.path() / "cut.tar";
  testing::write_text(cut, bytes.substr(0, bytes.size() / 2));
  ImageOptions cold = options();
  ScratchDir cold_root;
  cold.depot_root = cold_root.path();
  err = user_error_of([&] { ImageDepot(cold).get("oci-archive:" + cut.string()); });
  EXPECT_NE(err.find("corrupt archive"), std::string::npos) << err;
  EXPECT_TRUE(fs::is_empty(cold_root.path() / "tmp"));
}

TEST_F(ImageDepotTest, DockerArchive) {
  fs::path tar = project_.path() / "basic.docker.tar";
  run({"python3", testing::helper_script().string(), "docker-archive", "--layout",
       (shared_->path() / "nozstd").string() + ":latest", "--out", tar.string(), "--tag", "test/image:v3"});
  ImageDepot depot(options());
  for (std::string name :
       {"docker-archive:" + tar.string(), "docker-archive:" + tar.string() + ":test/image:v3"}) {
    ImageInfo info = depot.get(name);
    expect_basic(info);
    EXPECT_EQ(info.environment[1], "IMAGE_VAR=basic");
    EXPECT_EQ(magic(info.layers[1].tar_path).substr(0, 2), "et");  // docker save: plain tars
  }
  std::string err = user_error_of([&] { depot.get("docker-archive:" + tar.string() + ":other:v1"); });
  EXPECT_NE(err.find("tag other:v1 not found"), std::string::npos) << err;
  EXPECT_NE(user_error_of([&] { depot.get("docker-archive:/nonexistent.tar"); }).find("not found"),
            std::string::npos);
}

}  // namespace
}  // namespace mael
