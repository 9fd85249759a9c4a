// Registry access against real components on loopback: docker-registry with
// Docker token auth (tests/images/token_server.py signs the JWTs), with a
// self-signed TLS certificate, and on a non-loopback address over plain HTTP.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "base/error.h"
#include "base/base64.h"
#include "base/test_errors.h"
#include "image/credentials.h"
#include "image/image_depot.h"
#include "image/test_util.h"

namespace mael {
namespace {

using testing::user_error_of;

namespace fs = std::filesystem;
using testing::run;
using testing::ScratchDir;
using testing::TestRegistry;

// The first IPv4 address of this machine that is not loopback, or "".
std::string non_loopback_ipv4() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    if (!std::string(buf).starts_with("127.")) found = buf;
  }
  ::freeifaddrs(list);
  return found;
}

class RegistryAccessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new ScratchDir();
    testing::build_test_image(*shared_ / "basic");
  }
  static void TearDownTestSuite() { delete shared_; }

  void SetUp() override {
    testing::isolate_registry_settings(home_.path());  // tests write their own
  }
  void TearDown() override {
    ::unsetenv("REGISTRY_AUTH_FILE");
    ::unsetenv("MAELSTROM_CONTAINER_INSECURE_REGISTRIES");
  }

  static void push(const std::string& to, const std::string& creds = "") {
    testing::push_test_image(*shared_ / "basic", to, creds);
  }

  // A fresh depot each time: every get() reaches the registry.
  ImageOptions options() {
    ImageOptions o;
    o.depot_root = home_.path() / ("depot" + std::to_string(depots_++));
    o.progress = false;
    return o;
  }
  size_t pull(const std::string& name, ImageOptions o) {
    ImageInfo info = ImageDepot(std::move(o)).get(name);
    for (const auto& l : info.layers) EXPECT_EQ(Digest::of_file(l.tar_path), l.digest);
    return info.layers.size();
  }

  static inline ScratchDir* shared_ = nullptr;
  ScratchDir home_;
  int depots_ = 0;
};

// One registry requiring Docker token auth for all the token tests.
class TokenAuthTest : public RegistryAccessTest {
 protected:
  static void SetUpTestSuite() {
    RegistryAccessTest::SetUpTestSuite();
    dir_ = new ScratchDir();
    registry_ = new TestRegistry(dir_->path(), "alice", "s3cret", {"--token", "--refresh-token", "RT-good"});
    push(registry_->address() + "/pub/img:v1", "alice:s3cret");
    push(registry_->address() + "/private/img:v1", "alice:s3cret");
  }
  static void TearDownTestSuite() {
    delete registry_;
    delete dir_;
    RegistryAccessTest::TearDownTestSuite();
  }
  void SetUp() override {
    RegistryAccessTest::SetUp();
    fs::remove(log_path());
  }
  static std::string addr() { return registry_->address(); }
  static fs::path log_path() { return dir_->path() / "token-requests.log"; }
  // The token service's requests since the test started ("GET anonymous", ...).
  static std::string token_requests() { return testing::read_text(log_path()); }
  void write_auth(const fs::path& file, const std::string& entry) {
    testing::write_text(file, R"({"auths":{")" + addr() + R"(":)" + entry + "}}");
  }

  static inline ScratchDir* dir_ = nullptr;
  static inline TestRegistry* registry_ = nullptr;
};

TEST_F(TokenAuthTest, AnonymousBearerToken) {
  EXPECT_EQ(pull("docker://" + addr() + "/pub/img:v1", options()), 3u);
  // One anonymous token, reused for the manifest, config and every layer.
  EXPECT_EQ(token_requests(), "GET anonymous\n");
  std::string name = "docker://" + addr() + "/private/img:v1";
  EXPECT_EQ(user_error_of([&] { pull(name, options()); }),
            name + ": access to private/img on registry " + addr() +
                " denied (HTTP 401): the image does not exist or needs a login");
}

TEST_F(TokenAuthTest, PasswordFromPodmanAuthFileGoesToTheTokenService) {
  fs::path auth = home_.path() / "run" / "containers" / "auth.json";
  std::string name = "docker://" + addr() + "/private/img:v1";
  write_auth(auth, R"({"auth":")" + base64_encode("alice:s3cret") + R"("})");
  EXPECT_EQ(pull(name, options()), 3u);
  EXPECT_EQ(token_requests(), "GET basic\n");
  write_auth(auth, R"({"auth":")" + base64_encode("alice:nope") + R"("})");
  std::string err = user_error_of([&] { pull(name, options()); });
  EXPECT_TRUE(err.starts_with(name + ": wrong credentials for registry " + addr())) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

TEST_F(TokenAuthTest, IdentityTokenFromDockerConfigIsTraded) {
  fs::path config = home_.path() / "docker" / "config.json";
  std::string name = "docker://" + addr() + "/private/img:v1";
  // As `docker login` writes it: the identity token wins over "auth".
  write_auth(config, R"({"auth":")" + base64_encode("<token>:") + R"(","identitytoken":"RT-good"})");
  EXPECT_EQ(pull(name, options()), 3u);
  EXPECT_EQ(token_requests(), "POST refresh_token\n");
  write_auth(config, R"({"identitytoken":"RT-stale"})");
  EXPECT_TRUE(
      user_error_of([&] { pull(name, options()); }).starts_with(name + ": wrong credentials for registry"));
}

TEST_F(TokenAuthTest, RegistryTokenIsSentAsIs) {
  fs::path file = home_.path() / "auth-file.json";
  ::setenv("REGISTRY_AUTH_FILE", file.c_str(), 1);
  std::string name = "docker://" + addr() + "/private/img:v1";
  std::string token = run({"python3", testing::helper_script().string(), "mint", "--dir",
                           dir_->path().string(), "--repo", "private/img"});
  token.erase(token.find_last_not_of("\n") + 1);
  write_auth(file, R"({"registrytoken":")" + token + R"("})");
  EXPECT_EQ(pull(name, options()), 3u);
  EXPECT_EQ(token_requests(), "");  // the token service was not asked
  write_auth(file, R"({"registrytoken":"not-a-token"})");
  EXPECT_EQ(user_error_of([&] { pull(name, options()); }), name + ": wrong credentials for registry " + addr() +
                                                          ": access to private/img denied (HTTP 401)");
}

TEST_F(RegistryAccessTest, SelfSignedTlsNeedsTheFlag) {
  ScratchDir dir;
  TestRegistry reg(dir.path(), "", "", {"--tls"});
  push(reg.address() + "/tls/img:v1");
  std::string name = "docker://" + reg.address() + "/tls/img:v1";
  std::string err = user_error_of([&] { pull(name, options()); });
  EXPECT_TRUE(err.starts_with(name + ": registry " + reg.address() + " has an untrusted TLS certificate"))
      << err;
  EXPECT_NE(err.find("accept-invalid-remote-container-tls-certs"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
  ImageOptions o = options();
  o.accept_invalid_certs = true;
  EXPECT_EQ(pull(name, o), 3u);
}

TEST_F(RegistryAccessTest, PlainHttpOffLoopbackOnlyWhenNamedInsecure) {
  std::string ip = non_loopback_ipv4();
  if (ip.empty()) GTEST_SKIP() << "no non-loopback IPv4 address on this machine";
  ScratchDir dir;
  TestRegistry reg(dir.path(), "", "", {"--host", ip});
  push(reg.address() + "/plain/img:v1");
  std::string name = "docker://" + reg.address() + "/plain/img:v1";
  std::string err = user_error_of([&] { pull(name, options()); });
  EXPECT_TRUE(err.starts_with(name + ": TLS handshake with registry " + reg.address() + " failed")) << err;
  EXPECT_NE(err.find("container-insecure-registries (--container-insecure-registries " + reg.address() + ")"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
  ImageOptions o = options();
  o.insecure_registries = {reg.address()};
  EXPECT_EQ(pull(name, o), 3u);
  // The same through the environment, by host name only.
  ::setenv("MAELSTROM_CONTAINER_INSECURE_REGISTRIES", ("example.com, " + ip).c_str(), 1);
  EXPECT_EQ(pull(name, options()), 3u);
}

}  // namespace
}  // namespace mael
