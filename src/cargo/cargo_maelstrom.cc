#include "cargo/cargo_maelstrom.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <set>

#include "base/config.h"
#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "base/subprocess.h"
#include "cargo/cargo_build.h"
#include "cargo/cargo_cases.h"
#include "cargo/cargo_metadata.h"
#include "cargo/early_start.h"
#include "cargo/last_build.h"
#include "cargo/metadata_cache.h"
#include "client/client_config.h"
#include "runner/adapters.h"
#include "runner/driver.h"
#include "runner/output_pump.h"

extern char** environ;

namespace mael {
namespace {

namespace fs = std::filesystem;

void add_cargo_config(ConfigLoader& loader) {
  auto str = [&](const char* name, const char* help, const char* value_name, char short_name = 0) {
    loader.add({.name = name,
                .type = ConfigType::String,
                .help = help,
                .short_name = short_name,
                .value_name = value_name});
  };
  auto flag = [&](const char* name, const char* help) {
    loader.add({.name = name, .type = ConfigType::Bool, .help = help, .default_value = "false"});
  };
  str("features", "comma-separated list of features to activate (cargo)", "FEATURES", 'F');
  flag("all-features", "activate all available features (cargo)");
  flag("no-default-features", "do not activate the `default` feature (cargo)");
  str("profile", "build artifacts with the specified profile (cargo)", "PROFILE-NAME");
  str("target", "build for the target triple (cargo)", "TRIPLE");
  str("target-dir", "directory for all generated artifacts (cargo)", "DIRECTORY");
  str("manifest-path", "path to Cargo.toml (cargo)", "PATH");
  flag("frozen", "require Cargo.lock and cache are up to date (cargo)");
  flag("locked", "require Cargo.lock is up to date (cargo)");
  flag("offline", "run without cargo accessing the network (cargo)");
  loader.add({.name = "extra-test-binary-args",
              .type = ConfigType::List,
              .help = "arguments for every test binary, after --exact --nocapture (give them after --)",
              .value_name = "ARGS",
              .var_arg = true});
}

CargoOptions cargo_options_from(const Config& c) {
  CargoOptions o;
  o.features = c.get_optional_string("features");
  o.all_features = c.get_bool("all-features");
  o.no_default_features = c.get_bool("no-default-features");
  o.profile = c.get_optional_string("profile");
  o.target = c.get_optional_string("target");
  o.target_dir = c.get_optional_string("target-dir");
  o.manifest_path = c.get_optional_string("manifest-path");
  o.frozen = c.get_bool("frozen");
  o.locked = c.get_bool("locked");
  o.offline = c.get_bool("offline");
  return o;
}

// The cache of `cargo metadata` answers, or none when there is no cache directory.
std::optional<MetadataCache> metadata_cache(const std::vector<std::string>& args) {
  std::string cache_home;
  try {
    cache_home = xdg_cache_home();
  } catch (const UserError&) {
    return std::nullopt;
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return MetadataCache(fs::path(cache_home) / "maelstrom" / "cargo-maelstrom" / "metadata",
                       fs::current_path(), args, env);
}

CargoWorkspace read_workspace(const CargoOptions& o) {
  std::vector<std::string> args = cargo_metadata_args(o);
  std::optional<MetadataCache> cache = metadata_cache(args);
  if (cache) {
    if (std::optional<std::string> json = cache->lookup()) {
      try {
        CargoWorkspace ws = parse_cargo_metadata(*json);
        log::debug("cargo metadata: the cached answer (no manifest, target directory or config changed)");
        return ws;
      } catch (const UserError&) {
        // Not cargo's answer after all: ask cargo.
      }
    }
  }
  ProcessResult r = run_process(args);
  if (!r.ok()) throw UserError("cargo metadata failed: " + cargo_error_summary(r.err));
  CargoWorkspace ws = parse_cargo_metadata(r.out);
  if (cache) cache->store(r.out, ws);
  return ws;
}

FilterFields package_fields(const CargoPackage& p) {
  return {{{"package", p.name}}, {}};
}
FilterFields artifact_fields(const CargoPackage& p, const CargoTarget& t) {
  return {{{"package", p.name}, {"kind", artifact_kind_name(t.kind)}, {"artifact", t.name}}, {}};
}

fs::path build_dir_for(const fs::path& target_dir, const CargoOptions& o) {
  fs::path d = target_dir;
  if (o.target) d /= *o.target;
  std::string profile = o.profile.value_or("dev");
  return d / (profile == "dev" || profile == "test" ? "debug" : profile == "bench" ? "release" : profile);
}

// Cargo's side of the test runner: discovery through `cargo metadata`, the build through
// `cargo test --no-run` (its JSON messages say which test binaries are ready), listing through
// the libtest harness, one job per test with `--exact`; and tests of the last build started
// before cargo has checked them (early_start.h).
class CargoAdapter final : public TestAdapter {
 public:
  const AdapterInfo& info() const override { return cargo_adapter(); }
  std::string description() const override {
    return "Run Rust tests, each in its own container (a drop-in for `cargo test`).";
  }
  // `cargo maelstrom ARGS` runs `cargo-maelstrom maelstrom ARGS`.
  std::vector<std::string> rewrite_args(std::vector<std::string> words) override {
    if (words.size() > 1 && words[1] == "maelstrom") words.erase(words.begin() + 1);
    return words;
  }
  void add_config(ConfigLoader& loader) override { add_cargo_config(loader); }
  void add_flags(CLI::App& app) override {
    auto* lb = app.add_flag("--list-binaries", list_binaries_,
                            "print the test binaries that would run, without building");
    lb->excludes(app.get_option("--list-tests"))->excludes(app.get_option("--list-packages"));
  }
  void configure(const Config& config) override {
    opts_ = cargo_options_from(config);
    extra_args_ = config.get_list("extra-test-binary-args");
  }
  std::string default_cache_description() const override {
    return "maelstrom/cache in cargo's target directory";
  }
  bool listing_only() const override { return list_binaries_; }
  void end_run() override { cargo_.reset(); }

  Project discover(bool build_everything, bool color) override {
    cargo_.reset();
    // With no filter every package is built, so the build need not wait for the metadata.
    if (build_everything && !list_binaries_) {
      build_args_ = cargo_test_build_args(opts_, {}, color);
      cargo_ = std::make_unique<ChildProcess>(build_args_);
    }
    ws_ = read_workspace(opts_);
    fs::path target_dir = opts_.target_dir ? fs::absolute(*opts_.target_dir) : ws_.target_directory;
    Project p;
    p.root = ws_.workspace_root;
    p.state_dir = target_dir / "maelstrom" / "state";
    p.default_cache = target_dir / "maelstrom" / "cache";
    p.vars = {{"build-dir", build_dir_for(target_dir, opts_).string()}};
    p.outputs = {target_dir};
    for (const auto& pkg : ws_.packages) {
      p.packages.push_back({pkg.name, package_fields(pkg)});
      for (const auto& t : pkg.targets) p.listing_keys[pkg.name].insert(artifact_key(t));
    }
    return p;
  }

  std::optional<int> list_without_build(const Project&, const Filter& filter) override {
    if (!list_binaries_) return std::nullopt;
    for (const auto& p : ws_.packages) {
      for (const auto& t : p.targets) {
        if (!t.test || !filter.may_match(artifact_fields(p, t))) continue;
        std::string name = p.name;
        if (t.name != p.name) name += " " + t.name;
        std::printf("%s (%s)\n", name.c_str(), artifact_kind_name(t.kind));
      }
    }
    return 0;
  }

  BuildResult build(const Project& project, const std::vector<size_t>& selected_packages, bool color,
                    BuildSink& sink) override {
    std::unique_ptr<ChildProcess> cargo = std::move(cargo_);
    std::vector<const CargoPackage*> selected;
    for (size_t i : selected_packages) selected.push_back(&ws_.packages[i]);
    if (selected.empty()) return {};
    if (!cargo) {
      build_args_ = cargo_test_build_args(opts_, selected, color);
      cargo = std::make_unique<ChildProcess>(build_args_);
    }
    EarlyStart early(sink.run());
    OutputPump pump(cargo->stderr_fd(),
                    [&sink, &early, compiling = false](std::string_view chunk, std::string_view recent) mutable {
                      sink.output(chunk);
                      if (!compiling && cargo_started_compiling(recent)) {
                        compiling = true;
                        early.give_up();
                      }
                    });
    // On an error, stop cargo first: the pump's thread ends when cargo's stderr closes.
    struct KillOnUnwind {
      ChildProcess& c;
      ~KillOnUnwind() {
        if (std::uncaught_exceptions() > 0) c.kill();
      }
    } kill_on_unwind{*cargo};
    ArtifactCollector collector(selected);
    fs::path last_build_file = project.state_dir / "last-build.json";
    std::vector<BuiltTestBinary> built;  // this build's test binaries, for the next run
    // The last build's binaries whose tests are known start now, while cargo checks them.
    if (sink.running_tests()) {
      for (const BuiltTestBinary& b : load_last_build(last_build_file, build_args_)) {
        std::optional<TestArtifact> a = recorded_artifact(b, selected);
        std::optional<ListedCases> listed = sink.known_cases(b.executable);
        if (!a || !listed) continue;
        std::optional<TestRun::HoldId> hold = early.begin(b);
        if (!hold) break;  // cargo is compiling already
        sink.submit_known(test_binary(*a), *listed, *hold);
      }
      log::debug("{} test binaries of the last build started early", early.binaries());
    }
    if (early.binaries() == 0) early.give_up();
    auto note_built = [&](const std::vector<TestArtifact>& ready) {
      for (const auto& a : ready) built.push_back({a.package->name, artifact_key(a.target), a.executable, ""});
    };
    bool layers_forgotten = false;
    auto post = [&](std::vector<TestArtifact> ready) {
      if (early.keep_back(ready)) return;
      if (!ready.empty() && early.binaries() > 0 && !layers_forgotten) {
        // The early jobs' layers are memoized, and cargo may have rewritten their files since.
        // (No early job is being submitted now: they all were, on this thread, before.)
        sink.forget_layers();
        layers_forgotten = true;
      }
      for (auto& a : ready) sink.ready(test_binary(a));
    };
    BuildResult r;
    for_each_line(cargo->stdout_fd(), [&](std::string_view line) {
      std::vector<TestArtifact> ready = collector.feed(line);
      if (collector.rebuilt()) early.give_up();
      note_built(ready);
      post(std::move(ready));
      return !sink.stop_requested();
    });
    if (sink.stop_requested()) {
      cargo->kill();
      r.cut_short = true;
    }
    r.exit_code = cargo->wait();
    pump.join();
    r.output = filter_build_output(pump.text());
    r.failure = mael::format("cargo test exited with code {}", r.exit_code);
    if (r.exit_code == 0 && !sink.stop_requested()) {
      std::vector<TestArtifact> held = collector.finish();
      note_built(held);
      post(std::move(held));
      std::vector<TestArtifact> rest = early.settle(collector.rebuilt());
      if (early.binaries() > 0) log::debug("early start settled: {} test binaries left to run", rest.size());
      post(std::move(rest));
    }
    if (r.exit_code == 0 && !r.cut_short) save_last_build(last_build_file, build_args_, built);
    return r;
  }

  ListedCases list_cases(const Project&, const TestBinary& b) override {
    return list_test_binary(b.executable, ws_.workspace_root);
  }
  std::string display_name(const TestBinary& b, const std::string& case_name) override {
    return case_display_name(b.package_key, b.fields.strings.at("artifact"), case_name);
  }
  void make_job(const TestBinary& b, const TestMetadata& md, TestBinaryLayers& layers, TestCase& tc) override {
    run_test_binary(b, md, layers, tc);
    tc.spec.arguments = {"--exact", "--nocapture"};
    tc.spec.arguments.insert(tc.spec.arguments.end(), extra_args_.begin(), extra_args_.end());
    tc.spec.arguments.push_back(tc.case_name);
  }
  OutcomeHooks outcome_hooks(const TestCase& tc) override {
    OutcomeHooks h;
    std::string name = tc.case_name;
    h.clean_stdout = [name](std::vector<std::string> lines) { return trim_harness_output(name, std::move(lines)); };
    return h;
  }

 private:
  TestBinary test_binary(const TestArtifact& a) const {
    TestBinary b;
    b.package = static_cast<size_t>(a.package - ws_.packages.data());
    b.package_key = a.package->name;
    b.artifact = artifact_key(a.target);
    b.executable = a.executable;
    b.fields = artifact_fields(*a.package, a.target);
    return b;
  }

  CargoOptions opts_;
  std::vector<std::string> extra_args_;
  bool list_binaries_ = false;
  CargoWorkspace ws_;
  std::vector<std::string> build_args_;
  std::unique_ptr<ChildProcess> cargo_;  // started by discover() when every package is built
};

}  // namespace

int cargo_maelstrom_main(int argc, char** argv) {
  CargoAdapter adapter;
  return run_test_runner(adapter, argc, argv);
}

}  // namespace mael
