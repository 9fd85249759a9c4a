#include "cluster/local_features.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/test_temp_dir.h"

namespace mael::cluster {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

ResolvedJob bind_job(const std::string& path) {
  ResolvedJob j;
  j.mounts.push_back(Mount{.type = MountType::Bind, .mount_point = "/m", .local_path = path});
  return j;
}

TEST(LocalFeatures, NothingIsAllowedByDefault) {
  ResolvedJob net;
  net.network = Network::Local;
  EXPECT_THAT(*local_features_refusal(net, {}, "w", false), HasSubstr("allow-local-network is off"));
  EXPECT_THAT(*local_features_refusal(bind_job("/srv"), {}, "w", false),
              HasSubstr("allow-bind-mounts is empty"));
  EXPECT_FALSE(local_features_refusal(ResolvedJob{}, {}, "w", false));  // a plain job needs nothing
}

TEST(LocalFeatures, BindPathsMustBeUnderAnAllowedDirectory) {
  WorkerFeatures f{.bind_mount_roots = {"/srv/data"}};
  EXPECT_FALSE(local_features_refusal(bind_job("/srv/data"), f, "w", false));
  EXPECT_FALSE(local_features_refusal(bind_job("/srv/data/set/"), f, "w", false));
  EXPECT_TRUE(
      local_features_refusal(bind_job("/srv/database"), f, "w", false));  // not a prefix by characters
  EXPECT_TRUE(local_features_refusal(bind_job("/srv/data/../secret"), f, "w", false));
  EXPECT_TRUE(local_features_refusal(bind_job("relative"), f, "w", false));
}

TEST(LocalFeatures, OnTheHostLinksAreFollowedBeforeComparing) {
  testing::ScratchDir dir;
  fs::create_directories(dir / "allowed/real");
  fs::create_directories(dir / "secret");
  fs::create_directory_symlink(dir / "secret", dir / "allowed/escape");
  WorkerFeatures f{.bind_mount_roots = {(dir / "allowed").string()}};
  EXPECT_FALSE(local_features_refusal(bind_job((dir / "allowed/real").string()), f, "w", true));
  // As written it is under the allowed directory; on the host it is not.
  EXPECT_FALSE(local_features_refusal(bind_job((dir / "allowed/escape").string()), f, "w", false));
  EXPECT_THAT(*local_features_refusal(bind_job((dir / "allowed/escape").string()), f, "w", true),
              HasSubstr("not under its allow-bind-mounts"));
  EXPECT_THAT(*local_features_refusal(bind_job((dir / "allowed/missing").string()), f, "w", true),
              HasSubstr("does not exist there"));
}

}  // namespace
}  // namespace mael::cluster
