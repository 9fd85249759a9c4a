#include "layers/shared_libraries.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "base/elf_reader.h"
#include "base/error.h"
#include "base/subprocess.h"
#include "store/test_tar_util.h"

namespace fs = std::filesystem;
using namespace mael;

namespace {

const fs::path kFixture = MAEL_ELF_FIXTURE_DIR;

// Libraries ldd (the real loader) reports for a binary.
std::set<fs::path> ldd(const std::string& binary) {
  std::set<fs::path> out;
  std::istringstream lines(run_process({"ldd", binary}).out);
  for (std::string s; std::getline(lines, s);) {
    size_t arrow = s.find("=> /");
    size_t start = arrow != std::string::npos ? arrow + 3 : s.find_first_not_of(" \t");
    if (start == std::string::npos || s[start] != '/') continue;
    out.insert(fs::path(s.substr(start, s.find(' ', start) - start)).lexically_normal());
  }
  return out;
}

std::set<fs::path> resolve(const std::vector<fs::path>& bins, const std::string& ld_library_path = "") {
  SharedLibraryResolver r({ld_library_path});
  auto v = r.resolve(bins);
  return {v.begin(), v.end()};
}

TEST(ElfReader, ReadsDynamicSection) {
  auto ls = read_elf("/bin/ls");
  ASSERT_TRUE(ls);
  EXPECT_TRUE(ls->interpreter.has_value());
  EXPECT_NE(std::find(ls->needed.begin(), ls->needed.end(), "libc.so.6"), ls->needed.end());
  auto main = read_elf(kFixture / "bin/layers_fixture_main");
  ASSERT_TRUE(main);
  EXPECT_EQ(main->runpath, "$ORIGIN/../lib");
  EXPECT_NE(std::find(main->needed.begin(), main->needed.end(), "liblayers_fixture_a.so"),
            main->needed.end());
  auto a = read_elf(kFixture / "lib/liblayers_fixture_a.so");
  EXPECT_EQ(a->soname, "liblayers_fixture_a.so");
  EXPECT_FALSE(read_elf("/etc/passwd"));
}

TEST(SharedLibraries, MatchesLddForLs) {
  auto expected = ldd("/bin/ls");
  if (expected.empty()) GTEST_SKIP() << "ldd unavailable";
  EXPECT_EQ(resolve({"/bin/ls"}), expected);
}

TEST(SharedLibraries, StaticBinaryNeedsNothing) {
  if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "no static busybox";
  EXPECT_TRUE(resolve({"/bin/busybox"}).empty());
}

TEST(SharedLibraries, RunpathOriginAndTransitive) {
  auto got = resolve({kFixture / "bin/layers_fixture_main"});
  EXPECT_TRUE(got.count(kFixture / "lib/liblayers_fixture_a.so"));
  EXPECT_TRUE(got.count(kFixture / "lib/liblayers_fixture_b.so"));
  EXPECT_FALSE(got.count(kFixture / "bin/layers_fixture_main"));
  EXPECT_EQ(got, ldd((kFixture / "bin/layers_fixture_main").string()));
}

TEST(SharedLibraries, MissingLibraryAndLdLibraryPath) {
  mael::testing::TempDir t;
  fs::create_directories(t.path() / "bin");
  fs::create_directories(t.path() / "elsewhere");
  fs::copy(kFixture / "bin/layers_fixture_main", t.path() / "bin/main");
  try {
    resolve({t.path() / "bin/main"});
    FAIL() << "missing library not reported";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("liblayers_fixture_a.so"), std::string::npos) << msg;
    EXPECT_NE(msg.find((t.path() / "bin/main").string()), std::string::npos) << msg;
  }
  fs::copy(kFixture / "lib/liblayers_fixture_a.so", t.path() / "elsewhere");
  fs::copy(kFixture / "lib/liblayers_fixture_b.so", t.path() / "elsewhere");
  auto got = resolve({t.path() / "bin/main"}, "/nonexistent:" + (t.path() / "elsewhere").string());
  EXPECT_TRUE(got.count(t.path() / "elsewhere/liblayers_fixture_a.so"));
  EXPECT_TRUE(got.count(t.path() / "elsewhere/liblayers_fixture_b.so"));
  EXPECT_THROW(resolve({t.path() / "bin/nope"}), UserError);
  EXPECT_THROW(resolve({"/etc/passwd"}), UserError);
}

}  // namespace
