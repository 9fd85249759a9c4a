#include "cargo/cargo_inputs.h"

#include <gtest/gtest.h>

#include <fstream>

#include "base/test_temp_dir.h"
#include "cargo/last_build.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

const char* kLock = R"(version = 4

[[package]]
name = "alpha"
version = "0.1.0"

[[package]]
name = "helper"
version = "0.1.0"

[[package]]
name = "regex"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
)";

// A workspace of one member, alpha, with a path dependency `helper` at `helper_dir`.
struct Workspace {
  ScratchDir dir;
  CargoWorkspace ws;
  std::map<std::string, std::string> env{{"PATH", "/nonexistent"}, {"HOME", "/nonexistent"}};
  std::vector<std::string> args{"cargo", "test", "--no-run", "--color=never", "--workspace"};

  explicit Workspace(const std::string& helper_dir = "crates/helper") {
    ws.workspace_root = dir.path() / "ws";
    ws.target_directory = ws.workspace_root / "target";
    CargoPackage alpha;
    alpha.name = "alpha";
    alpha.path_dependencies = {{"helper", helper_dir.front() == '/' ? fs::path(helper_dir)
                                                                     : ws.workspace_root / helper_dir}};
    ws.packages.push_back(alpha);
    write(ws.workspace_root / "Cargo.toml", "[workspace]\n");
    write(ws.workspace_root / "Cargo.lock", kLock);
    write(ws.workspace_root / "crates/alpha/src/lib.rs", "pub fn a() {}\n");
    write(ws.workspace_root / "crates/helper/src/lib.rs", "pub fn h() {}\n");
    write(ws.target_directory / "debug/alpha", "binary");
  }
  std::string fingerprint() { return scan_cargo_inputs(ws, ws.workspace_root, args, env).fingerprint; }
};

TEST(CargoInputs, TheFingerprintFollowsSourcesEnvironmentAndArgumentsButNotTheTargetDirectory) {
  Workspace w;
  std::string base = w.fingerprint();
  ASSERT_EQ(base.size(), 64u);
  EXPECT_EQ(w.fingerprint(), base);
  // Not: the build's own output, our own settings, what a shell changes by itself, the color.
  write(w.ws.target_directory / "debug/alpha", "rebuilt binary");
  write(w.ws.workspace_root / "other-target/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55");
  write(w.ws.workspace_root / "other-target/x", "x");
  w.env["CARGO_MAELSTROM_UI"] = "simple";
  w.env["OLDPWD"] = "/somewhere";
  w.args[3] = "--color=always";
  EXPECT_EQ(w.fingerprint(), base);
  // But every source, manifest and setting.
  write(w.ws.workspace_root / "crates/alpha/src/lib.rs", "pub fn a() { changed(); }\n");
  std::string edited = w.fingerprint();
  EXPECT_NE(edited, base);
  write(w.ws.workspace_root / "crates/alpha/src/new.rs", "");
  EXPECT_NE(w.fingerprint(), edited);
  std::string now = w.fingerprint();
  w.env["RUSTFLAGS"] = "-Copt-level=1";
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  w.env["OPENSSL_DIR"] = "/opt/ssl";  // a build script may read any variable
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  w.args.push_back("--features=x");
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  write(w.ws.workspace_root / ".cargo/config.toml", "[build]\nrustflags = []\n");
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  write(w.dir.path() / ".cargo/config.toml", "[build]\n");  // above the workspace
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  write(w.ws.workspace_root / ".git/HEAD", "ref: refs/heads/main\n");
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  write(w.ws.workspace_root / ".git/refs/heads/main", "0123\n");  // a commit
  EXPECT_NE(w.fingerprint(), now);
  now = w.fingerprint();
  write(w.ws.workspace_root / ".git/index", "status refreshed it");  // the rest of .git is not read
  EXPECT_EQ(w.fingerprint(), now);
}

TEST(CargoInputs, NoFingerprintWhenTheBuildReachesOutsideTheWorkspace) {
  {
    Workspace w;
    EXPECT_FALSE(w.fingerprint().empty());
    w.args.push_back("--target=x86_64-unknown-linux-musl");
    EXPECT_TRUE(w.fingerprint().empty());
  }
  {
    Workspace w("/elsewhere/helper");  // a path dependency outside
    EXPECT_TRUE(w.fingerprint().empty());
  }
  {
    Workspace w;  // a local package no member depends on by path: a [patch], say
    w.ws.packages[0].path_dependencies.clear();
    EXPECT_TRUE(w.fingerprint().empty());
  }
  {
    Workspace w;
    fs::remove(w.ws.workspace_root / "Cargo.lock");
    EXPECT_TRUE(w.fingerprint().empty());
  }
}

TEST(CargoInputs, BuildScriptsWatchingFilesOutsideTheWorkspaceAreSeen) {
  ScratchDir d;
  fs::path root = d.path() / "ws";
  fs::path inside = d.path() / "ws/target/debug/build/a-1/out", outside = d.path() / "ws/target/debug/build/b-2/out";
  write(inside.parent_path() / "output",
        "cargo:rerun-if-changed=build.rs\ncargo:rerun-if-changed=" + (root / "data").string() + "\n");
  write(outside.parent_path() / "output", "cargo::rerun-if-changed=/usr/include/zlib.h\n");
  EXPECT_FALSE(build_scripts_watch_outside({inside}, root));
  EXPECT_TRUE(build_scripts_watch_outside({inside, outside}, root));
  EXPECT_FALSE(build_scripts_watch_outside({}, root));
}

TEST(CargoInputs, TheLastBuildStandsOnlyWhileInputsBinariesAndOutputsAreAsRecorded) {
  Workspace w;
  fs::path record = w.dir.path() / "state/last-build.json";
  fs::path binary = w.ws.target_directory / "debug/deps/alpha-1";
  write(binary, "test binary");
  fs::path build_dir = w.ws.target_directory / "debug";
  CargoInputs inputs = scan_cargo_inputs(w.ws, w.ws.workspace_root, w.args, w.env);
  save_last_build(record, w.args, {{"alpha", "alpha(library)", binary, ""}}, inputs, cargo_output_signature(build_dir));
  // Its files changed just now: not trusted yet.
  EXPECT_FALSE(unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir)));
  auto got = unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir), /*racy_ns=*/0);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].executable, binary);
  // Another command line, other inputs, a changed binary or build output: cargo must run.
  std::vector<std::string> other_args = w.args;
  other_args.push_back("--release");
  EXPECT_FALSE(unchanged_last_build(record, other_args, inputs, cargo_output_signature(build_dir), 0));
  CargoInputs other = inputs;
  other.fingerprint[0] ^= 1;
  EXPECT_FALSE(unchanged_last_build(record, w.args, other, cargo_output_signature(build_dir), 0));
  write(build_dir / "alpha", "uplifted binary of other features");
  EXPECT_FALSE(unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir), 0));
  save_last_build(record, w.args, {{"alpha", "alpha(library)", binary, ""}}, inputs, cargo_output_signature(build_dir));
  EXPECT_TRUE(unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir), 0));
  write(binary, "changed test binary");
  EXPECT_FALSE(unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir), 0));
  // A record without inputs (cargo started before the scan), or with a missing binary, never stands.
  save_last_build(record, w.args, {{"alpha", "alpha(library)", binary, ""}});
  EXPECT_FALSE(unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir), 0));
  save_last_build(record, w.args, {{"alpha", "alpha(library)", binary, ""}, {"alpha", "t(test)", build_dir / "gone", ""}},
                  inputs, cargo_output_signature(build_dir));
  EXPECT_FALSE(unchanged_last_build(record, w.args, inputs, cargo_output_signature(build_dir), 0));
}

}  // namespace
}  // namespace mael
