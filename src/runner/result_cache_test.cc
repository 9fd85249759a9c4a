#include "runner/result_cache.h"

#include <gtest/gtest.h>

#include "base/test_temp_dir.h"

namespace mael {
namespace {

using testing::ScratchDir;

ResolvedJob job() {
  ResolvedJob j;
  j.layers = {Digest::of_bytes("binary layer")};
  j.program = "/t";
  j.arguments = {"--exact", "a"};
  j.environment = {"A=1"};
  return j;
}

TEST(ResultCacheKey, EveryPartOfTheJobButSchedulingChangesIt) {
  std::string base = *result_cache_key(job());
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(*result_cache_key(job()), base);
  std::vector<std::function<void(ResolvedJob&)>> changes = {
      [](ResolvedJob& j) { j.layers[0] = Digest::of_bytes("rebuilt binary"); },
      [](ResolvedJob& j) { j.layers.push_back(Digest::of_bytes("lib")); },
      [](ResolvedJob& j) { j.program = "/u"; },
      [](ResolvedJob& j) { j.arguments[1] = "b"; },
      [](ResolvedJob& j) { j.environment = {"A=2"}; },
      [](ResolvedJob& j) { j.working_directory = "/tmp"; },
      [](ResolvedJob& j) { j.user = 1000; },
      [](ResolvedJob& j) { j.group = 1000; },
      [](ResolvedJob& j) { j.network = Network::Loopback; },
      [](ResolvedJob& j) { j.timeout = std::chrono::seconds(5); },
      [](ResolvedJob& j) { j.limits.max_memory = 1 << 20; },
      [](ResolvedJob& j) { j.enable_writable_file_system = true; },
      [](ResolvedJob& j) { j.mounts.push_back(Mount{MountType::Tmp, "/scratch", "", false, {}}); },
      [](ResolvedJob& j) { j.mounts.push_back(Mount{MountType::Devices, "", "", false, {Device::Null}}); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    ResolvedJob j = job();
    changes[i](j);
    EXPECT_NE(*result_cache_key(j), base) << "change " << i;
  }
  ResolvedJob scheduled = job();
  scheduled.priority = 1;
  scheduled.estimated_duration = std::chrono::seconds(3);
  EXPECT_EQ(*result_cache_key(scheduled), base);
}

TEST(ResultCacheKey, JobsThatMustRunLocallyHaveNone) {
  ResolvedJob local = job();
  local.network = Network::Local;
  EXPECT_FALSE(result_cache_key(local).has_value());
  ResolvedJob bind = job();
  bind.mounts.push_back(Mount{MountType::Bind, "/data", "/host/data", true, {}});
  EXPECT_FALSE(result_cache_key(bind).has_value());
}

TEST(ResultCache, SavesLoadsRetainsAndForgets) {
  ScratchDir dir;
  auto file = dir / "state/test-results.json";
  ResultCache c("tool 1.0");
  EXPECT_FALSE(c.load(file).has_value());  // missing: empty, no warning
  c.record_pass("p", "a", "t1", "k1");
  c.record_pass("p", "a", "t2", "k2");
  c.record_pass("gone", "a", "t", "k3");
  c.record_skip("p", "a", "t3", "k4", "skipped: no GPU");
  c.forget("p", "a", "t2");
  c.retain([](const std::string& p, const std::string&, const std::string&) { return p != "gone"; });
  c.save(file);
  ResultCache d("tool 1.0");
  EXPECT_FALSE(d.load(file).has_value());
  EXPECT_EQ(d.size(), 2u);
  // Another version of the tool starts afresh, without a warning.
  ResultCache newer("tool 1.1");
  EXPECT_FALSE(newer.load(file).has_value());
  EXPECT_EQ(newer.size(), 0u);
  EXPECT_TRUE(d.passed("p", "a", "t1", "k1"));
  EXPECT_FALSE(d.passed("p", "a", "t1", "other key"));
  EXPECT_FALSE(d.passed("p", "a", "t2", "k2"));
  std::optional<CachedOutcome> skip = d.lookup("p", "a", "t3", "k4");
  ASSERT_TRUE(skip.has_value());
  EXPECT_TRUE(skip->skipped);
  EXPECT_EQ(skip->reason, "skipped: no GPU");
  EXPECT_FALSE(d.passed("p", "a", "t3", "k4"));  // a skip is not a pass
  EXPECT_FALSE(d.lookup("p", "a", "t3", "k1").has_value());
  d.record_pass("p", "a", "t3", "k4");  // it passes now: the skip is gone
  ASSERT_TRUE(d.lookup("p", "a", "t3", "k4").has_value());
  EXPECT_FALSE(d.lookup("p", "a", "t3", "k4")->skipped);
}

TEST(ResultCache, ADamagedFileIsIgnoredWithAWarningNamingIt) {
  ScratchDir dir;
  for (const char* text :
       {"{not json", "[]", "{\"version\": 9, \"tool\": \"t 1\", \"passed\": {}}", "{\"version\": 1, \"tool\": \"t 1\"}",
        "{\"version\": 1, \"passed\": {}}", "{\"version\": 1, \"tool\": \"t 1\", \"passed\": {\"p\": {\"a\": {\"t\": 5}}}}",
        "{\"version\": 1, \"tool\": \"t 1\", \"passed\": {\"p\": 3}}",
        "{\"version\": 1, \"tool\": \"t 1\", \"passed\": {}, \"skipped\": []}",
        "{\"version\": 1, \"tool\": \"t 1\", \"passed\": {}, \"skipped\": {\"p\": {\"a\": {\"t\": \"k\"}}}}", ""}) {
    auto file = dir.write("test-results.json", text);
    ResultCache c("t 1");
    c.record_pass("p", "a", "t", "k");
    std::optional<std::string> warning = c.load(file);
    ASSERT_TRUE(warning.has_value()) << text;
    EXPECT_NE(warning->find(file.string()), std::string::npos) << *warning;
    EXPECT_EQ(c.size(), 0u) << text;
  }
}

}  // namespace
}  // namespace mael
