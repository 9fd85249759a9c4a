#include "cargo/cargo_maelstrom.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "base/config.h"
#include "base/error.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "cargo/cargo_build.h"
#include "cargo/cargo_cases.h"
#include "cargo/cargo_metadata.h"
#include "client/client.h"
#include "client/client_config.h"
#include "runner/adapters.h"
#include "runner/client_jobs.h"
#include "runner/directives.h"
#include "runner/filter.h"
#include "runner/report_junit.h"
#include "runner/run_loop.h"
#include "runner/run_ui.h"
#include "runner/runner_cli.h"
#include "runner/subprocess.h"
#include "runner/test_listing.h"
#include "runner/watch.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
constexpr const char* kProgram = "cargo-maelstrom";

struct ListFlags {
  bool tests = false;
  bool binaries = false;
  bool packages = false;
};

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

// cargo's one-line complaint ("error: could not find `Cargo.toml` in ...") without its prefix.
std::string cargo_error_line(const std::string& err) {
  std::string first;
  size_t start = 0;
  while (start < err.size()) {
    size_t end = err.find('\n', start);
    if (end == std::string::npos) end = err.size();
    std::string line = err.substr(start, end - start);
    start = end + 1;
    if (line.rfind("error: ", 0) == 0) return line.substr(7);
    if (first.empty() && !line.empty()) first = line;
  }
  return first.empty() ? "no error message" : first;
}

CargoWorkspace read_workspace(const CargoOptions& o) {
  ProcessResult r = run_process(cargo_metadata_args(o));
  if (!r.ok()) throw UserError("cargo metadata failed: " + cargo_error_line(r.err));
  return parse_cargo_metadata(r.out);
}

FilterFields package_fields(const CargoPackage& p) {
  return {{{"package", p.name}}, {}};
}
FilterFields artifact_fields(const CargoPackage& p, const CargoTarget& t) {
  return {{{"package", p.name}, {"kind", artifact_kind_name(t.kind)}, {"artifact", t.name}}, {}};
}
FilterFields case_fields(const CargoPackage& p, const CargoTarget& t, const std::string& name) {
  auto f = artifact_fields(p, t);
  f.strings["name"] = name;
  return f;
}

fs::path build_dir_for(const fs::path& target_dir, const CargoOptions& o) {
  fs::path d = target_dir;
  if (o.target) d /= *o.target;
  std::string profile = o.profile.value_or("dev");
  return d / (profile == "dev" || profile == "test" ? "debug" : profile == "bench" ? "release" : profile);
}

LayerSpec binary_layer(const fs::path& exe) {
  PathsLayer l;
  l.paths = {exe.string()};
  l.prefix.strip_prefix = exe.parent_path().string();
  return l;
}

LayerSpec shared_libraries_layer(const fs::path& exe) {
  SharedLibraryDependenciesLayer l;
  l.binary_paths = {exe.string()};
  l.prefix.follow_symlinks = true;
  return l;
}

struct Session {
  const Config& config;
  const RunnerFlags& flags;
  const ListFlags& list;
  CargoOptions cargo;
  RunnerSettings settings;
  bool stdout_tty = false;
};

// Reads cargo's stderr into the UI while the build runs; keeps it all for the warnings.
class BuildOutputPump {
 public:
  BuildOutputPump(int fd, RunUi& ui)
      : thread_([this, fd, &ui] {
          char buf[8192];
          for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            ui.build_output(std::string_view(buf, static_cast<size_t>(n)));
            std::lock_guard lk(mu_);
            text_.append(buf, static_cast<size_t>(n));
          }
        }) {}
  ~BuildOutputPump() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::string text() {
    std::lock_guard lk(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
  std::thread thread_;
};

// Reads lines from the fd, calling `f` on each; stops early when f returns false.
template <typename F>
void for_each_line(int fd, F f) {
  std::string pending;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!f(std::string_view(pending).substr(start, nl - start))) return;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) f(pending);
}

int list_without_build(const Session& s, const CargoWorkspace& ws, const Filter& filter) {
  for (const auto& p : ws.packages) {
    if (s.list.packages) {
      if (filter.may_match(package_fields(p))) std::printf("%s\n", p.name.c_str());
      continue;
    }
    for (const auto& t : p.targets) {
      if (!t.test || !filter.may_match(artifact_fields(p, t))) continue;
      std::string name = p.name;
      if (t.name != p.name) name += " " + t.name;
      std::printf("%s (%s)\n", name.c_str(), artifact_kind_name(t.kind));
    }
  }
  return 0;
}

// One whole run: discover, build, list, run, report. Returns the exit code.
int run_once(const Session& s, std::atomic<Client*>& current_client) {
  const AdapterInfo& adapter = cargo_adapter();
  Filter filter = Filter::compile(s.flags.include, s.flags.exclude, *adapter.filter_language);
  CargoWorkspace ws = read_workspace(s.cargo);
  fs::path spec_path = ws.workspace_root / adapter.spec_file_name;
  if (s.flags.init) {
    if (fs::exists(spec_path)) {
      std::printf("Config already exists at %s. Doing nothing.\n", spec_path.c_str());
      return 1;
    }
    write_default_spec_file(spec_path, adapter.default_spec);
    std::printf("Wrote default config to %s.\n", spec_path.c_str());
    return 0;
  }
  if (s.list.packages || s.list.binaries) return list_without_build(s, ws, filter);

  fs::path target_dir = s.cargo.target_dir ? fs::absolute(*s.cargo.target_dir) : ws.target_directory;
  TemplateVars vars{{"build-dir", build_dir_for(target_dir, s.cargo).string()}};
  TestSpecFile spec = TestSpecFile::load(spec_path, adapter.default_spec, *adapter.filter_language, vars);

  fs::path state_dir = target_dir / "maelstrom" / "state";
  std::string note;
  TestListing listing = TestListing::load(test_listing_path(state_dir), &note);
  {
    std::map<std::string, std::set<std::string>> keep;
    for (const auto& p : ws.packages)
      for (const auto& t : p.targets) keep[p.name].insert(artifact_key(t));
    listing.retain_packages_and_artifacts(keep);
  }

  std::vector<const CargoPackage*> selected;
  for (const auto& p : ws.packages)
    if (filter.may_match(package_fields(p))) selected.push_back(&p);

  UiSettings ui_settings;
  ui_settings.kind =
      s.list.tests ? (s.settings.ui == UiKind::Quiet ? UiKind::Quiet : UiKind::Simple) : s.settings.ui;
  ui_settings.stdout_tty = s.stdout_tty;
  ui_settings.width = terminal_width(STDOUT_FILENO);
  std::unique_ptr<RunUi> ui = make_run_ui(ui_settings);
  if (!note.empty()) ui->message(note);

  // The client only when tests will run (listing needs no containers).
  std::unique_ptr<Client> own_client;
  Client* client = nullptr;
  // Cleared before the client goes, so the signal thread never sees a dead one.
  struct Unpublish {
    std::atomic<Client*>& c;
    ~Unpublish() { c.store(nullptr); }
  } unpublish{current_client};
  if (!s.list.tests) {
    ClientOptions co = client_options_from(s.config);
    if (s.config.get("cache-root").source == "default") co.cache_root = target_dir / "maelstrom" / "cache";
    co.project_dir = ws.workspace_root;
    co.image_progress = isatty(STDERR_FILENO);
    own_client = std::make_unique<Client>(co);
    client = own_client.get();
    current_client.store(client);
  }

  RunLoopOptions loop;
  loop.repeat = s.settings.repeat;
  loop.stop_after = s.settings.stop_after;
  loop.hooks = [](const TestCase& tc) {
    OutcomeHooks h;
    std::string name = tc.case_name;
    h.clean_stdout = [name](std::vector<std::string> lines) {
      return trim_harness_output(name, std::move(lines));
    };
    return h;
  };
  JobSubmitter submit = client ? client_submitter(*client) : JobSubmitter{};
  TestRun run(
      submit,
      [client] {
        if (client) client->cancel_all();
      },
      listing, *ui, loop);

  const auto& extra_args = s.config.get_list("extra-test-binary-args");
  auto handle_artifact = [&](const TestArtifact& a) {
    const CargoPackage& pkg = *a.package;
    std::vector<std::string> cases = list_test_cases(a.executable, false, ws.workspace_root);
    std::vector<std::string> ignored = list_test_cases(a.executable, true, ws.workspace_root);
    std::set<std::string> ignored_set(ignored.begin(), ignored.end());
    std::string key = artifact_key(a.target);
    std::vector<std::pair<std::string, CaseMetadata>> all;
    for (const auto& c : cases) all.emplace_back(c, CaseMetadata{});
    run.set_artifact_cases(pkg.name, key, all);
    std::vector<TestCase> batch;
    for (const auto& c : cases) {
      FilterFields f = case_fields(pkg, a.target, c);
      if (!filter.matches(f)) continue;
      std::string display = case_display_name(pkg.name, a.target.name, c);
      if (s.list.tests) {
        ui->list_line(display);
        continue;
      }
      TestMetadata md = spec.metadata_for(f);
      TestCase tc;
      tc.package = pkg.name;
      tc.artifact = key;
      tc.case_name = c;
      tc.name = display;
      tc.ignored = md.ignore || ignored_set.count(c);
      tc.spec.container = md.container;
      tc.spec.container.layers.push_back(binary_layer(a.executable));
      if (md.include_shared_libraries)
        tc.spec.container.layers.push_back(shared_libraries_layer(a.executable));
      tc.spec.program = "/" + a.executable.filename().string();
      tc.spec.arguments = {"--exact", "--nocapture"};
      tc.spec.arguments.insert(tc.spec.arguments.end(), extra_args.begin(), extra_args.end());
      tc.spec.arguments.push_back(c);
      tc.spec.timeout = s.settings.timeout ? *s.settings.timeout : md.timeout;
      batch.push_back(std::move(tc));
    }
    if (!batch.empty()) run.add_cases(std::move(batch));
  };

  bool color = ui_settings.kind == UiKind::Simple && isatty(STDERR_FILENO);
  int build_code = 0;
  bool discovery_complete = true;
  std::string build_text;
  try {
    if (!selected.empty()) {
      ChildProcess cargo(cargo_test_build_args(s.cargo, selected, color));
      BuildOutputPump pump(cargo.stderr_fd(), *ui);
      ArtifactCollector collector(selected);
      for_each_line(cargo.stdout_fd(), [&](std::string_view line) {
        for (const auto& a : collector.feed(line)) {
          handle_artifact(a);
          if (run.stopped()) return false;
        }
        return true;
      });
      if (run.stopped()) {
        cargo.kill();
        discovery_complete = false;
      }
      build_code = cargo.wait();
      pump.join();
      build_text = pump.text();
      ui->build_done();
      if (build_code == 0 && !run.stopped()) {
        for (const auto& a : collector.finish()) {
          handle_artifact(a);
          if (run.stopped()) break;
        }
      }
    }
  } catch (...) {
    if (client) client->cancel_all();
    run.finish(false);
    throw;
  }
  if (run.stopped()) discovery_complete = false;
  if (build_code != 0 && !run.stopped()) {
    if (client) client->cancel_all();
    run.finish(false);
    if (ui_settings.kind != UiKind::Simple) std::fputs(filter_build_output(build_text).c_str(), stderr);
    std::fprintf(stderr, "error: build failed: cargo test exited with code %d\n", build_code);
    return build_code;
  }
  RunResult res = run.finish(discovery_complete);
  try {
    listing.save(test_listing_path(state_dir));
  } catch (const std::exception& e) {
    ui->message(std::string("warning: could not save the test listing: ") + e.what());
  }
  if (s.list.tests) return 0;
  ui->finish(summary_lines(res.summary, ui_settings.width, ui_settings.kind == UiKind::Fancy),
             filter_build_output(build_text));
  if (!s.flags.junit.empty()) write_junit_xml(s.flags.junit, kProgram, res.junit);
  return res.exit_code;
}

// Ctrl-C / SIGTERM: the jobs' namespaces die with their PID 1; cargo and listing children get
// the terminal's signal themselves.
void start_signal_thread(std::atomic<Client*>& client, const sigset_t& set) {
  std::thread([&client, set] {
    int sig = 0;
    sigwait(&set, &sig);
    if (Client* c = client.load()) c->cancel_all();
    std::fflush(stdout);
    std::fprintf(stderr, "\ninterrupted\n");
    _exit(128 + sig);
  }).detach();
}

}  // namespace

int cargo_maelstrom_main(int argc, char** argv) {
  // `cargo maelstrom ARGS` runs `cargo-maelstrom maelstrom ARGS`.
  std::vector<char*> args(argv, argv + argc);
  if (args.size() > 1 && std::strcmp(args[1], "maelstrom") == 0) args.erase(args.begin() + 1);
  CLI::App app{"Run Rust tests, each in its own container (a drop-in for `cargo test`).", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("--version", "cargo-maelstrom 0.1.0");
    ConfigLoader loader(program_config_info(kProgram), app);
    add_client_config(loader, "cargo-maelstrom");
    add_runner_config(loader);
    add_cargo_config(loader);
    RunnerFlags flags;
    add_runner_flags(app, flags);
    ListFlags list;
    auto* lt = app.add_flag("-l,--list-tests,--list", list.tests,
                            "print the tests that would run, without running them");
    auto* lb = app.add_flag("--list-binaries", list.binaries,
                            "print the test binaries that would run, without building");
    auto* lp =
        app.add_flag("--list-packages", list.packages, "print the packages that would run, without building");
    lt->excludes(lb)->excludes(lp);
    lb->excludes(lp);
    app.parse(static_cast<int>(args.size()), args.data());
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());

    Session s{config,
              flags,
              list,
              cargo_options_from(config),
              runner_settings_from(config),
              isatty(STDOUT_FILENO) != 0};
    // Block the signals before any thread starts, so only the signal thread takes them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::atomic<Client*> current_client{nullptr};
    start_signal_thread(current_client, set);
    if (!flags.watch || flags.init || list.tests || list.binaries || list.packages)
      return run_once(s, current_client);
    // --watch: run, wait for a change outside the target directory, run again. The watch starts
    // before the run so that edits made while tests run trigger the next one.
    for (;;) {
      CargoWorkspace ws = read_workspace(s.cargo);
      fs::path target_dir = s.cargo.target_dir ? fs::absolute(*s.cargo.target_dir) : ws.target_directory;
      DirectoryWatcher watcher(ws.workspace_root, {target_dir});
      int code = 0;
      try {
        code = run_once(s, current_client);
      } catch (const UserError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        code = 1;
      }
      std::printf("exit code %d; waiting for changes in %s (Ctrl-C to stop)\n", code,
                  ws.workspace_root.c_str());
      std::fflush(stdout);
      watcher.wait_for_change();
    }
  });
}

}  // namespace mael
