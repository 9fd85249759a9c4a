// Client::resolve's per-client layer memo, on a client connected to an in-process broker (no
// container is needed to resolve).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "base/error.h"
#include "client/client.h"
#include "cluster/broker.h"
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

}  // namespace
}  // namespace mael
