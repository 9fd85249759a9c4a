#include "client/layer_memo.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

namespace mael {
namespace {

Digest digest_of(int i) { return Digest::of_bytes("layer " + std::to_string(i)); }

auto always_valid = [](const Digest&) { return true; };

TEST(LayerMemo, SameSpecTwiceBuildsOnce) {
  LayerMemo memo;
  int builds = 0;
  auto build = [&] { return digest_of(++builds); };
  LayerSpec spec = PathsLayer{{"bin/test"}, {.strip_prefix = "bin"}};
  EXPECT_EQ(memo.get(spec, build, always_valid), digest_of(1));
  EXPECT_EQ(memo.get(PathsLayer{{"bin/test"}, {.strip_prefix = "bin"}}, build, always_valid), digest_of(1));
  EXPECT_EQ(builds, 1);
  // Any difference is another layer.
  EXPECT_EQ(memo.get(PathsLayer{{"bin/test"}, {}}, build, always_valid), digest_of(2));
  EXPECT_EQ(memo.get(GlobLayer{"bin/test", {}}, build, always_valid), digest_of(3));
  EXPECT_EQ(builds, 3);
  EXPECT_EQ(memo.size(), 3u);
}

TEST(LayerMemo, ClearBuildsEverySpecAgain) {
  LayerMemo memo;
  int builds = 0;
  auto build = [&] { return digest_of(++builds); };
  LayerSpec spec = PathsLayer{{"bin/test"}, {}};
  EXPECT_EQ(memo.get(spec, build, always_valid), digest_of(1));
  memo.clear();
  EXPECT_EQ(memo.size(), 0u);
  EXPECT_EQ(memo.get(spec, build, always_valid), digest_of(2));
  EXPECT_EQ(memo.get(spec, build, always_valid), digest_of(2));
}

TEST(LayerMemo, KeysTellEveryFieldApart) {
  std::vector<LayerSpec> specs = {
      TarLayer{"a"},
      TarLayer{"b"},
      GlobLayer{"a", {}},
      GlobLayer{"a", {.canonicalize = true}},
      GlobLayer{"a", {.follow_symlinks = true}},
      PathsLayer{{"a"}, {}},
      PathsLayer{{"a", "b"}, {}},
      PathsLayer{{"a,b"}, {}},
      PathsLayer{{"ab"}, {}},
      PathsLayer{{"a"}, {.strip_prefix = "x"}},
      PathsLayer{{"a"}, {.prepend_prefix = "x"}},
      PathsLayer{{"a"}, {.strip_prefix = ""}},
      StubsLayer{{"a"}},
      StubsLayer{{"a", ""}},
      SymlinksLayer{{{"a", "b"}}},
      SymlinksLayer{{{"ab", ""}}},
      SymlinksLayer{{{"a", "b"}, {"c", "d"}}},
      SharedLibraryDependenciesLayer{{"a"}, {}},
      CommandLayer{"a", {}},
      CommandLayer{"a", {"b"}},
      CommandLayer{"a", {"", "b"}},
  };
  std::set<std::string> keys;
  for (const auto& s : specs) keys.insert(layer_spec_key(s));
  EXPECT_EQ(keys.size(), specs.size());
  EXPECT_EQ(layer_spec_key(SymlinksLayer{{{"a", "b"}}}), layer_spec_key(SymlinksLayer{{{"a", "b"}}}));
}

TEST(LayerMemo, ConcurrentRequestsWaitForOneBuild) {
  LayerMemo memo;
  std::atomic<int> builds{0};
  auto build = [&] {
    ++builds;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return digest_of(7);
  };
  std::vector<std::thread> threads;
  std::vector<Digest> got(8);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { got[i] = memo.get(StubsLayer{{"/tmp/"}}, build, always_valid); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(builds.load(), 1);
  for (const auto& d : got) EXPECT_EQ(d, digest_of(7));
}

TEST(LayerMemo, FailedBuildIsNotMemoized) {
  LayerMemo memo;
  int builds = 0;
  auto failing = [&]() -> Digest {
    ++builds;
    throw std::runtime_error("missing file");
  };
  LayerSpec spec = PathsLayer{{"missing"}, {}};
  EXPECT_THROW(memo.get(spec, failing, always_valid), std::runtime_error);
  EXPECT_THROW(memo.get(spec, failing, always_valid), std::runtime_error);
  EXPECT_EQ(builds, 2);
  EXPECT_EQ(memo.size(), 0u);
  EXPECT_EQ(memo.get(
                spec, [] { return digest_of(1); }, always_valid),
            digest_of(1));
}

TEST(LayerMemo, DigestNoLongerValidIsBuiltAgain) {
  LayerMemo memo;
  int builds = 0;
  auto build = [&] { return digest_of(++builds); };
  std::set<Digest> present;
  auto in_store = [&](const Digest& d) { return present.count(d) != 0; };
  LayerSpec spec = TarLayer{"layer.tar"};
  EXPECT_EQ(memo.get(spec, build, in_store), digest_of(1));  // just built: not checked
  present.insert(digest_of(1));
  EXPECT_EQ(memo.get(spec, build, in_store), digest_of(1));
  present.clear();  // evicted
  EXPECT_EQ(memo.get(spec, build, in_store), digest_of(2));
  EXPECT_EQ(builds, 2);
  EXPECT_EQ(memo.size(), 1u);
}

}  // namespace
}  // namespace mael
