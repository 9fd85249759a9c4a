#include "runner/case_list_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/test_temp_dir.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

const ListedCases kCases{{"a::one", "a::two", "b::slow"}, {"b::slow"}};

struct Fixture {
  testing::ScratchDir tmp;
  fs::path binary = tmp.write("target/debug/deps/foo-123", "#!binary v1");
  fs::path file = tmp.path() / "state" / "cases.json";
};

TEST(CaseListCache, RemembersAcrossRunsWhileTheBinaryIsUnchanged) {
  Fixture f;
  {
    CaseListCache c(f.file, 0);
    EXPECT_FALSE(c.find(f.binary));
    c.put(f.binary, kCases);
    EXPECT_EQ(c.find(f.binary), kCases);
    c.save();
  }
  CaseListCache again(f.file, 0);
  EXPECT_EQ(again.find(f.binary), kCases);
  EXPECT_FALSE(again.find(f.tmp.path() / "other"));
}

TEST(CaseListCache, ForgetsARebuiltOrRemovedBinary) {
  Fixture f;
  CaseListCache c(f.file, 0);
  c.put(f.binary, kCases);
  f.tmp.write("target/debug/deps/foo-123", "#!binary version 2");  // rebuilt in place
  EXPECT_FALSE(c.find(f.binary));

  c.put(f.binary, kCases);
  fs::path replacement = f.tmp.write("new", "#!binary v3");  // the linker's way: a new file renamed over
  fs::rename(replacement, f.binary);
  EXPECT_FALSE(c.find(f.binary));

  c.put(f.binary, kCases);
  fs::remove(f.binary);
  EXPECT_FALSE(c.find(f.binary));
  c.save();  // the entry of a binary that is gone is not written
  f.tmp.write("target/debug/deps/foo-123", "#!binary v1");
  EXPECT_FALSE(CaseListCache(f.file, 0).find(f.binary));
}

TEST(CaseListCache, DistrustsABinaryChangedJustBeforeTheEntry) {
  Fixture f;
  CaseListCache c(f.file);  // the default window: the binary was written a moment ago
  c.put(f.binary, kCases);
  EXPECT_FALSE(c.find(f.binary));
}

TEST(CaseListCache, DamagedFileIsAnEmptyCache) {
  Fixture f;
  for (const char* text : {"", "{", "[]", "{\"version\": 1, \"binaries\": {\"x\": {\"cases\": 3}}}",
                           "{\"version\": 99, \"binaries\": {}}"}) {
    f.tmp.write("state/cases.json", text);
    CaseListCache c(f.file, 0);
    EXPECT_FALSE(c.find(f.binary)) << text;
    c.put(f.binary, kCases);
    c.save();
    EXPECT_EQ(CaseListCache(f.file, 0).find(f.binary), kCases) << text;
  }
}

TEST(CaseListCache, SaveIntoAnUnwritablePlaceIsQuiet) {
  Fixture f;
  CaseListCache c(f.tmp.write("plain-file", "") / "cases.json", 0);
  c.put(f.binary, kCases);
  EXPECT_NO_THROW(c.save());
}

}  // namespace
}  // namespace mael
