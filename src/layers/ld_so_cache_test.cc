#include "layers/ld_so_cache.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "base/subprocess.h"

using namespace mael;

namespace {

// "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6" lines of ldconfig -p.
std::set<std::pair<std::string, std::string>> ldconfig_listing() {
  std::set<std::pair<std::string, std::string>> out;
  std::istringstream lines(run_process({"sh", "-c", "ldconfig -p || /sbin/ldconfig -p"}).out);
  for (std::string s; std::getline(lines, s);) {
    size_t arrow = s.find(" => ");
    if (s.empty() || s[0] != '\t' || arrow == std::string::npos) continue;
    std::string name = s.substr(1, s.find(' ', 1) - 1);
    std::string path = s.substr(arrow + 4);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    out.emplace(name, path);
  }
  return out;
}

TEST(LdSoCache, MatchesLdconfig) {
  auto expected = ldconfig_listing();
  if (expected.empty()) GTEST_SKIP() << "no ldconfig or empty cache";
  auto entries = read_ld_so_cache("/etc/ld.so.cache");
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& e : entries) got.emplace(e.name, e.path);
  EXPECT_EQ(got, expected);
  bool libc = false;
  for (const auto& e : entries) libc |= e.name == "libc.so.6";
  EXPECT_TRUE(libc);
}

TEST(LdSoCache, MissingFileIsEmptyAndGarbageThrows) {
  EXPECT_TRUE(read_ld_so_cache("/nonexistent/ld.so.cache").empty());
  char tmpl[] = "/tmp/mael-ldcache-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "garbage garbage garbage garbage garbage garbage", 47), 47);
  close(fd);
  EXPECT_THROW(read_ld_so_cache(tmpl), std::runtime_error);
  unlink(tmpl);
}

}  // namespace
