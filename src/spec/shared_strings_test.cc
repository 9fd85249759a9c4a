#include "spec/shared_strings.h"

#include <gtest/gtest.h>

namespace mael {
namespace {

TEST(SharedStrings, CopiesShareTheListUntilOneChangesIt) {
  SharedStrings a = {"x", "y"};
  SharedStrings b = a;
  EXPECT_EQ(&a.items(), &b.items());  // shared, not copied
  b.push_back("z");
  EXPECT_NE(&a.items(), &b.items());
  EXPECT_EQ(a.items(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(b.items(), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a == SharedStrings({"x", "y"}));
}

TEST(SharedStrings, TheDigestIsTheListsIdentity) {
  SharedStrings a = {"ab", "c"};
  EXPECT_EQ(a.digest().size(), 64u);
  EXPECT_EQ(a.digest(), SharedStrings({"ab", "c"}).digest());
  EXPECT_NE(a.digest(), SharedStrings({"a", "bc"}).digest());  // lengths are part of it
  EXPECT_NE(a.digest(), SharedStrings({"ab"}).digest());
  std::string before = a.digest();
  a.mutate()[1] = "d";  // not shared: changed in place, and the digest follows
  EXPECT_NE(a.digest(), before);
  EXPECT_EQ(a.digest(), SharedStrings({"ab", "d"}).digest());
}

}  // namespace
}  // namespace mael
