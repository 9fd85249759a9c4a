#include "cargo/metadata_cache.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "store/test_tar_util.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A workspace root with two members under crates/, as cargo metadata would describe it.
struct Workspace {
  testing::TempDir tmp;
  fs::path root = tmp.path() / "ws";
  fs::path cache = tmp.path() / "cache";
  std::vector<std::string> args{"cargo", "metadata", "--no-deps"};
  std::vector<std::string> env{"HOME=" + (tmp.path() / "home").string(), "PATH=/usr/bin", "LANG=C"};
  CargoWorkspace ws;
  Workspace() {
    write(root / "Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n");
    ws.workspace_root = root;
    ws.target_directory = root / "target";
    for (const char* name : {"a", "b"}) {
      write(root / "crates" / name / "Cargo.toml", "[package]\nname = \"x\"\n");
      write(root / "crates" / name / "src" / "lib.rs", "");
      CargoPackage p;
      p.name = name;
      p.manifest_path = root / "crates" / name / "Cargo.toml";
      ws.packages.push_back(p);
    }
  }
  // No racy window: the files were all written just now.
  MetadataCache cache_for(const std::vector<std::string>& e, int64_t racy_ns = 0) const {
    return MetadataCache(cache, root / "crates" / "a", args, e, racy_ns);
  }
  MetadataCache cache_here() const { return cache_for(env); }
  void write_beside_root() const { write(tmp.path() / "unrelated", "x"); }
};

TEST(MetadataCache, AnswersWhileNothingChanged) {
  Workspace w;
  EXPECT_FALSE(w.cache_here().lookup());
  w.cache_here().store("{\"answer\": 1}", w.ws);
  EXPECT_EQ(w.cache_here().lookup().value_or(""), "{\"answer\": 1}");
  // Another environment variable, not cargo's: the same entry.
  auto env = w.env;
  env.push_back("TERM=dumb");
  EXPECT_TRUE(w.cache_for(env).lookup());
}

TEST(MetadataCache, KeyedByArgumentsDirectoryAndCargoEnvironment) {
  Workspace w;
  w.cache_here().store("{}", w.ws);
  auto env = w.env;
  env.push_back("CARGO_TARGET_DIR=/elsewhere");
  EXPECT_FALSE(w.cache_for(env).lookup());
  EXPECT_FALSE(MetadataCache(w.cache, w.root, w.args, w.env, 0).lookup());  // another directory
  auto args = w.args;
  args.push_back("--all-features");
  EXPECT_FALSE(MetadataCache(w.cache, w.root / "crates" / "a", args, w.env, 0).lookup());
}

TEST(MetadataCache, ForgetsWhenAnInputChanges) {
  struct Case {
    const char* what;
    std::function<void(const Workspace&)> change;
    std::function<void(const Workspace&)> before = [](const Workspace&) {};
  };
  std::vector<Case> cases = {
      {"a member's manifest",
       [](const Workspace& w) { write(w.root / "crates/b/Cargo.toml", "[package]\n"); }},
      {"the root manifest", [](const Workspace& w) { write(w.root / "Cargo.toml", "[workspace]\n"); }},
      {"a new integration test", [](const Workspace& w) { write(w.root / "crates/a/tests/t.rs", ""); }},
      {"a new binary", [](const Workspace& w) { write(w.root / "crates/b/src/bin/tool.rs", ""); }},
      {"a main.rs in an existing test directory",
       [](const Workspace& w) { write(w.root / "crates/a/tests/common/main.rs", ""); },
       [](const Workspace& w) { write(w.root / "crates/a/tests/common/mod.rs", ""); }},
      {"a main.rs in an existing binary directory",
       [](const Workspace& w) { write(w.root / "crates/b/src/bin/tool/main.rs", ""); },
       [](const Workspace& w) { fs::create_directories(w.root / "crates/b/src/bin/tool"); }},
      {"a new member directory", [](const Workspace& w) { write(w.root / "crates/c/Cargo.toml", ""); }},
      {"a build script", [](const Workspace& w) { write(w.root / "crates/a/build.rs", ""); }},
      {"cargo config beside the root", [](const Workspace& w) { write(w.root / ".cargo/config.toml", ""); }},
      {"cargo config in CARGO_HOME",
       [](const Workspace& w) { write(w.tmp.path() / "home/.cargo/config.toml", ""); }},
  };
  for (const auto& c : cases) {
    Workspace w;
    c.before(w);
    w.cache_here().store("{}", w.ws);
    ASSERT_TRUE(w.cache_here().lookup()) << c.what;
    c.change(w);
    EXPECT_FALSE(w.cache_here().lookup()) << c.what;
  }
}

TEST(MetadataCache, IgnoresTheRootPackagesParentDirectory) {
  Workspace w;
  // A single-package workspace: the package is the root.
  w.ws.packages.resize(1);
  w.ws.packages[0].manifest_path = w.root / "Cargo.toml";
  w.cache_here().store("{}", w.ws);
  w.write_beside_root();
  EXPECT_TRUE(w.cache_here().lookup());
}

TEST(MetadataCache, DistrustsFilesChangedJustBeforeTheEntry) {
  Workspace w;
  w.cache_for(w.env, 2'000'000'000).store("{}", w.ws);
  EXPECT_FALSE(w.cache_for(w.env, 2'000'000'000).lookup());  // all written a moment ago
  EXPECT_TRUE(w.cache_for(w.env, 0).lookup());
}

TEST(MetadataCache, IgnoresDamagedEntries) {
  Workspace w;
  w.cache_here().store("{}", w.ws);
  ASSERT_EQ(std::distance(fs::directory_iterator(w.cache), fs::directory_iterator()), 1);
  for (const auto& e : fs::directory_iterator(w.cache)) write(e.path(), "{\"key\": ");
  EXPECT_FALSE(w.cache_here().lookup());
  w.cache_here().store("{\"again\": true}", w.ws);
  EXPECT_EQ(w.cache_here().lookup().value_or(""), "{\"again\": true}");
}

TEST(MetadataCache, KeepsABoundedNumberOfEntries) {
  Workspace w;
  for (size_t i = 0; i < MetadataCache::kMaxEntries + 5; ++i) {
    auto env = w.env;
    env.push_back("CARGO_X=" + std::to_string(i));
    w.cache_for(env).store("{}", w.ws);
  }
  EXPECT_EQ(static_cast<size_t>(std::distance(fs::directory_iterator(w.cache), fs::directory_iterator())),
            MetadataCache::kMaxEntries);
  auto last = w.env;
  last.push_back("CARGO_X=" + std::to_string(MetadataCache::kMaxEntries + 4));
  EXPECT_TRUE(w.cache_for(last).lookup());
}

}  // namespace
}  // namespace mael
