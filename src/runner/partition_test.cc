#include "runner/partition.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"

namespace mael {
namespace {

TEST(Partition, ParsesNextestsForms) {
  Partition c = parse_partition("count:2/3");
  EXPECT_EQ(c.kind, Partition::Kind::Count);
  EXPECT_EQ(c.shard, 2u);
  EXPECT_EQ(c.total, 3u);
  EXPECT_EQ(parse_partition("hash:1/1").kind, Partition::Kind::Hash);
  for (const char* bad : {"count:0/3", "hash:4/3", "foo:1/2", "count", "count:1", "count:a/2", "count:1/0",
                          "count:-1/2", "hash:1/99999999999"}) {
    try {
      parse_partition(bad);
      ADD_FAILURE() << bad << " was taken";
    } catch (const UsageError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(std::string("--partition ") + bad), std::string::npos) << what;
      EXPECT_NE(what.find("count:M/N or hash:M/N"), std::string::npos) << what;
    }
  }
}

TEST(Partition, SharesAreDisjointAndCoverEverything) {
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back("pkg test_" + std::to_string((i * 37) % 50));
  for (auto kind : {Partition::Kind::Count, Partition::Kind::Hash}) {
    std::vector<int> seen(names.size(), 0);
    for (uint64_t m = 1; m <= 3; ++m) {
      auto in = in_partition({kind, m, 3}, names);
      for (size_t i = 0; i < names.size(); ++i) seen[i] += in[i];
    }
    for (int s : seen) EXPECT_EQ(s, 1);
  }
  // count: round-robin over the names sorted, whatever order they come in.
  auto in = in_partition({Partition::Kind::Count, 1, 2}, {"c", "a", "b", "d"});
  EXPECT_EQ(in, (std::vector<bool>{true, true, false, false}));  // a, c in share 1; b, d in share 2
  // hash: the same name lands in the same share every time.
  EXPECT_EQ(stable_name_hash("pkg test_1"), stable_name_hash("pkg test_1"));
  EXPECT_NE(stable_name_hash("pkg test_1"), stable_name_hash("pkg test_2"));
}

}  // namespace
}  // namespace mael
