#include "image/credentials.h"

#include <gtest/gtest.h>

#include "base/base64.h"
#include "base/error.h"
#include "image/credential_helper.h"
#include "image/test_util.h"

namespace mael {
namespace {

using testing::ScratchDir;

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

// Credential helpers: real programs (shell scripts) found on PATH.
class CredentialHelpers : public CredentialsFiles {
 protected:
  void SetUp() override {
    CredentialsFiles::SetUp();
    path_ = std::make_unique<testing::PathPrefix>(dir_ / "bin");
  }
  void TearDown() override { path_.reset(); }
  // A helper that logs its argument and stdin, then prints `answer`.
  void helper(const std::string& name, const std::string& answer, int exit_code = 0) {
    testing::write_credential_helper(dir_ / "bin", name,
                                     "echo \"$1 $(cat)\" >> " + (dir_ / "calls").string() + "\nprintf '%s' '" +
                                         answer + "'\nexit " + std::to_string(exit_code));
  }
  std::string calls() { return testing::read_text(dir_ / "calls"); }
  void config(const std::string& json) { testing::write_text(dir_ / "docker" / "config.json", json); }
  std::string error_of(const std::string& host) {
    try {
      find_credentials(host, "repo");
    } catch (const UserError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::unique_ptr<testing::PathPrefix> path_;
};

TEST_F(CredentialHelpers, PerRegistryHelperThenStoreThenAuths) {
  helper("reg", R"({"ServerURL":"reg.example:5000","Username":"alice","Secret":"s3cret"})");
  helper("store", R"({"Username":"<token>","Secret":"REFRESH"})");
  config(R"({"credHelpers":{"reg.example:5000":"reg"},"credsStore":"store",
             "auths":{"other.example":{"auth":")" +
         base64_encode("file:pw") + R"("}}})");
  auto c = find_credentials("reg.example:5000", "team/app");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->password, "s3cret");
  EXPECT_EQ(calls(), "get reg.example:5000\n");  // the registry's address on stdin
  // Any other registry goes to credsStore; "<token>" means an identity token.
  c = find_credentials("other.example", "x");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->identity_token, "REFRESH");
  EXPECT_EQ(c->username, "");
  EXPECT_EQ(c->password, "");
  // Docker Hub is asked for under its historical address.
  find_credentials("registry-1.docker.io", "library/alpine");
  EXPECT_EQ(calls(), "get reg.example:5000\nget other.example\nget https://index.docker.io/v1/\n");
}

TEST_F(CredentialHelpers, NothingStoredFallsBackToAuths) {
  // What docker-credential-helpers print for a registry they hold nothing for.
  helper("store", "credentials not found in native keychain", 1);
  config(R"({"credsStore":"store","auths":{"reg.example":{"auth":")" + base64_encode("file:pw") + R"("}}})");
  auto c = find_credentials("reg.example", "x");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "file");
  EXPECT_FALSE(find_credentials("none.example", "x"));
}

TEST_F(CredentialHelpers, FailuresAreOneLineErrorsNamingHelperAndRegistry) {
  std::string file = (dir_ / "docker" / "config.json").string();
  config(R"({"credsStore":"absent"})");
  EXPECT_EQ(error_of("reg.example"),
            "credential helper docker-credential-absent (credsStore in " + file +
                ") for registry reg.example: docker-credential-absent not found on PATH; install it or remove "
                "it from credsStore in " +
                file);
  testing::write_credential_helper(dir_ / "bin", "broken", "echo 'keychain locked' >&2\necho more >&2\nexit 3");
  config(R"({"credHelpers":{"reg.example":"broken"}})");
  EXPECT_EQ(error_of("reg.example"), "credential helper docker-credential-broken (credHelpers in " + file +
                                         ") for registry reg.example: exit status 3: keychain locked");
  helper("garbage", "Username=alice\nSecret=x");
  config(R"({"credsStore":"garbage"})");
  std::string err = error_of("reg.example");
  EXPECT_TRUE(err.starts_with("credential helper docker-credential-garbage (credsStore in " + file +
                              ") for registry reg.example: answered something other than JSON"))
      << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  // A helper that never reads its stdin and dies by a signal.
  testing::write_credential_helper(dir_ / "bin", "killed", "kill -9 $$");
  config(R"({"credsStore":"killed"})");
  EXPECT_NE(error_of("reg.example").find("docker-credential-killed"), std::string::npos);
  EXPECT_NE(error_of("reg.example").find("killed by signal 9"), std::string::npos);
}

TEST_F(CredentialHelpers, AHelperThatCannotBeExecutedIsAOneLineError) {
  testing::write_credential_helper(dir_ / "bin", "noexec", "exit 0");
  std::filesystem::permissions(dir_ / "bin" / "docker-credential-noexec",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  config(R"({"credsStore":"noexec"})");
  std::string file = (dir_ / "docker" / "config.json").string();
  EXPECT_EQ(error_of("reg.example"), "credential helper docker-credential-noexec (credsStore in " + file +
                                         ") for registry reg.example: cannot run 'docker-credential-noexec': "
                                         "Permission denied (is it installed and on PATH?)");
}

TEST_F(CredentialHelpers, AHelperThatNeverAnswersIsKilledAfterTheTimeout) {
  // (exec: the killed process is the one holding the pipes, nothing stays behind.)
  testing::write_credential_helper(dir_ / "bin", "hangs", "exec sleep 60");
  auto start = std::chrono::steady_clock::now();
  try {
    run_credential_helper("hangs", "reg.example", "credsStore in x.json", std::chrono::milliseconds(300));
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "credential helper docker-credential-hangs (credsStore in x.json) for registry reg.example: no answer "
              "within 0.30 s (is it waiting for a password prompt?); run `docker-credential-hangs get` by hand to "
              "see, or remove it from credsStore in x.json");
  }
  // Not a speed check: the 60 s sleep must not have run its course.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(50));
}

}  // namespace
}  // namespace mael
