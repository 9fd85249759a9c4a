#include "image/credentials.h"

#include <gtest/gtest.h>

#include "image/test_util.h"

namespace mael {
namespace {

using testing::ScratchDir;

TEST(Credentials, Base64) {
  for (std::string s : {"", "a", "ab", "abc", "user:pa:ss"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
}

// Points the credential files at a scratch directory for one test.
class CredentialsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("DOCKER_CONFIG", (dir_ / "docker").c_str(), 1);
    ::setenv("XDG_RUNTIME_DIR", (dir_ / "run").c_str(), 1);
    ::unsetenv("REGISTRY_AUTH_FILE");
    std::filesystem::create_directories(dir_ / "docker");
    std::filesystem::create_directories(dir_ / "run" / "containers");
  }
  ScratchDir dir_;
};

TEST_F(CredentialsFiles, DockerConfig) {
  testing::write_text(dir_ / "docker" / "config.json",
                      R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + base64_encode("hub:secret") +
                          R"("},
                          "127.0.0.1:5000":{"auth":")" +
                          base64_encode("me:pw") + R"("},
                          "tok.example":{"registrytoken":"TOKEN"},
                          "id.example":{"auth":"PHRva2VuPjo=","identitytoken":"REFRESH"}}})");
  auto hub = find_credentials("registry-1.docker.io", "library/alpine");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "hub");
  EXPECT_EQ(hub->password, "secret");
  auto local = find_credentials("127.0.0.1:5000", "x");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->username, "me");
  EXPECT_EQ(find_credentials("tok.example", "x")->bearer_token, "TOKEN");
  // docker login's OAuth entries: the identity token wins over "<token>:".
  auto id = find_credentials("id.example", "x");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->identity_token, "REFRESH");
  EXPECT_EQ(id->username, "");
  EXPECT_FALSE(find_credentials("127.0.0.1:5001", "x"));
}

TEST_F(CredentialsFiles, PodmanAuthFileWinsAndRepoScopedEntries) {
  testing::write_text(dir_ / "docker" / "config.json",
                      R"({"auths":{"reg.example":{"auth":")" + base64_encode("docker:a") + R"("}}})");
  testing::write_text(dir_ / "run" / "containers" / "auth.json",
                      R"({"auths":{"reg.example/team":{"auth":")" + base64_encode("podman:b") + R"("}}})");
  EXPECT_EQ(find_credentials("reg.example", "team/app")->username, "podman");
  // Not under team/: the podman file has nothing, docker's entry applies.
  EXPECT_EQ(find_credentials("reg.example", "other/app")->username, "docker");
}

}  // namespace
}  // namespace mael
