#include "cargo/last_build.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace mael {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("last-build-test-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

TEST(LastBuild, RecordsBinariesPerCargoCommandLine) {
  TempDir d;
  fs::path a = d.path / "a-123", b = d.path / "b-456", gone = d.path / "gone";
  write(a, "a");
  write(b, "b");
  fs::path file = d.path / "state" / "last-build.json";
  std::vector<std::string> args = {"cargo", "test", "--no-run", "--color=always", "--workspace"};
  save_last_build(file, args,
                  {{"pkg", "a(library)", a, ""}, {"pkg", "b(test)", b, ""}, {"pkg", "gone(test)", gone, ""}});

  // Not trusted while the binaries changed less than the racy window before the record.
  EXPECT_TRUE(load_last_build(file, args).empty());
  auto got = load_last_build(file, args, /*racy_ns=*/0);
  ASSERT_EQ(got.size(), 2u);  // the missing binary is left out
  EXPECT_EQ(got[0].package, "pkg");
  EXPECT_EQ(got[0].target, "a(library)");
  EXPECT_EQ(got[0].executable, a);
  EXPECT_NE(got[0].signature, "");
  // Colors and the cargo program aside, another command line has no record.
  std::vector<std::string> plain = args;
  plain[3] = "--color=never";
  EXPECT_EQ(load_last_build(file, plain, 0).size(), 2u);
  plain[0] = "/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo";
  EXPECT_EQ(load_last_build(file, plain, 0).size(), 2u);
  plain.back() = "--package=pkg@0.1.0";
  EXPECT_TRUE(load_last_build(file, plain, 0).empty());

  // A binary rewritten since is left out.
  fs::remove(b);
  write(b, "b, rebuilt");
  got = load_last_build(file, args, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].executable, a);
}

TEST(LastBuild, ADamagedOrMissingRecordIsNone) {
  TempDir d;
  EXPECT_TRUE(load_last_build(d.path / "none.json", {"cargo"}, 0).empty());
  write(d.path / "bad.json", "{\"version\": 1, \"cargo\": 3}");
  EXPECT_TRUE(load_last_build(d.path / "bad.json", {"cargo"}, 0).empty());
  write(d.path / "worse.json", "not json");
  EXPECT_TRUE(load_last_build(d.path / "worse.json", {"cargo"}, 0).empty());
}

}  // namespace
}  // namespace mael
