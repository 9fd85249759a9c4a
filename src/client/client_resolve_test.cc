// Client::resolve's per-client layer memo, on a client connected to an in-process broker (no
// container is needed to resolve).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.h"
#include "client/client.h"
#include "cluster/broker.h"
#include "image/test_util.h"
#include "store/artifact_store.h"
#include "store/test_tar_util.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

struct ClientResolveTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<cluster::Broker> broker;

  void SetUp() override {
    cluster::BrokerOptions o;
    o.cache_root = dir.path() / "broker";
    broker = std::make_unique<cluster::Broker>(o);
    write(project() / "data.txt", "first\n");
  }
  fs::path project() const { return dir.path() / "project"; }
  std::unique_ptr<Client> client() {
    ClientOptions o;
    o.project_dir = project();
    o.cache_root = dir.path() / "client";
    o.broker = "127.0.0.1:" + std::to_string(broker->port());
    o.image_progress = false;
    return std::make_unique<Client>(o);
  }
  static JobSpec job() {
    JobSpec s;
    s.container.layers.push_back(StubsLayer{{"/tmp/"}});
    s.container.layers.push_back(PathsLayer{{"data.txt"}, {}});
    s.container.layers.push_back(GlobLayer{"*.txt", {}});
    s.program = "/bin/true";
    return s;
  }
};

TEST_F(ClientResolveTest, EachLayerOncePerClientAndAChangedFileInTheNextClient) {
  std::vector<Digest> first;
  {
    auto c = client();
    first = c->resolve(job()).layers;
    ASSERT_EQ(first.size(), 3u);
    // Edited during the run (other size, other mtime): the run keeps the layers it built.
    write(project() / "data.txt", "second, longer\n");
    EXPECT_EQ(c->resolve(job()).layers, first);
    for (const Digest& d : first) EXPECT_TRUE(c->store().has_blob(d));
  }
  // The next run (a new client, same cache) sees the change.
  auto c = client();
  std::vector<Digest> second = c->resolve(job()).layers;
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[0], first[0]);  // stubs: unchanged
  EXPECT_NE(second[1], first[1]);
  EXPECT_NE(second[2], first[2]);
  EXPECT_EQ(c->resolve(job()).layers, second);
}

TEST_F(ClientResolveTest, MissingFileFailsEveryJobUntilItExists) {
  auto c = client();
  JobSpec s = job();
  s.container.layers.push_back(PathsLayer{{"later.txt"}, {}});
  EXPECT_THROW(c->resolve(s), UserError);
  EXPECT_THROW(c->resolve(s), UserError);  // a failure is not memoized
  write(project() / "later.txt", "now\n");
  EXPECT_EQ(c->resolve(s).layers.size(), 4u);
}

TEST_F(ClientResolveTest, ConcurrentResolvesAgree) {
  auto c = client();
  std::vector<std::vector<Digest>> got(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) threads.emplace_back([&, i] { got[i] = c->resolve(job()).layers; });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(got[0].size(), 3u);
}

// Jobs with different images pull them side by side: no client lock is held across a pull. Two
// images behind a proxy that slows every blob down; the proxy's log says when each blob of each
// repository was asked for and sent.
TEST_F(ClientResolveTest, TwoImagesPullAtTheSameTime) {
  testing::TempDir reg;
  testing::isolate_registry_settings(reg.path() / "home");
  testing::TestRegistry registry(reg.path() / "registry");
  testing::build_test_image(reg.path() / "one");
  testing::build_test_image(reg.path() / "two", {"--no-zstd"});
  testing::push_test_image(reg.path() / "one", registry.address() + "/one:v1");
  testing::push_test_image(reg.path() / "two", registry.address() + "/two:v1");
  testing::FaultProxy proxy(registry.address(), "slow", reg.path() / "proxy.log");
  ClientOptions o;
  o.project_dir = project();
  o.cache_root = dir.path() / "client";
  o.container_image_depot_root = dir.path() / "depot";
  o.broker = "127.0.0.1:" + std::to_string(broker->port());
  o.image_progress = false;
  Client c(o);
  auto image_job = [&](const std::string& repo) {
    JobSpec s;
    s.container.parent = ImageRef{"docker://" + proxy.address() + "/" + repo + ":v1"};
    s.program = "/bin/true";
    return s;
  };
  std::thread one([&] { c.resolve(image_job("one")); });
  std::thread two([&] { c.resolve(image_job("two")); });
  one.join();
  two.join();
  // Each repository's first request to its last answer: the two spans overlap.
  std::map<std::string, std::pair<double, double>> span;
  std::ifstream log(reg.path() / "proxy.log");
  for (std::string line; std::getline(log, line);) {
    auto j = nlohmann::json::parse(line);
    auto [it, fresh] = span.try_emplace(j["repo"].get<std::string>(), j["start"], j["end"]);
    it->second.first = std::min(it->second.first, j["start"].get<double>());
    it->second.second = std::max(it->second.second, j["end"].get<double>());
  }
  ASSERT_EQ(span.size(), 2u);
  EXPECT_LT(span["one"].first, span["two"].second);
  EXPECT_LT(span["two"].first, span["one"].second);
}

}  // namespace
}  // namespace mael
