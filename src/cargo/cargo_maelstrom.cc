#include "cargo/cargo_maelstrom.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "base/config.h"
#include "base/error.h"
#include "base/interrupt.h"
#include "base/log.h"
#include "base/subprocess.h"
#include "base/tool_main.h"
#include "base/version.h"
#include "cargo/binary_layers.h"
#include "cargo/cargo_build.h"
#include "cargo/cargo_cases.h"
#include "cargo/cargo_metadata.h"
#include "cargo/early_start.h"
#include "cargo/last_build.h"
#include "cargo/metadata_cache.h"
#include "client/client.h"
#include "client/client_config.h"
#include "image/tag_lock.h"
#include "runner/adapters.h"
#include "runner/client_jobs.h"
#include "runner/directives.h"
#include "runner/filter.h"
#include "runner/report_junit.h"
#include "runner/run_loop.h"
#include "runner/run_ui.h"
#include "runner/runner_cli.h"
#include "runner/task_pool.h"
#include "runner/test_listing.h"
#include "runner/watch.h"

extern char** environ;

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

struct Session {
  const Config& config;
  const RunnerFlags& flags;
  const ListFlags& list;
  CargoOptions cargo;
  RunnerSettings settings;
  bool stdout_tty = false;
};

// Reads cargo's stderr into the UI while the build runs; keeps it all for the warnings.
// `on_compiling` runs once, when cargo says it compiles something.
class BuildOutputPump {
 public:
  BuildOutputPump(int fd, RunUi& ui, std::function<void()> on_compiling)
      : thread_([this, fd, &ui, on_compiling = std::move(on_compiling)] {
          char buf[8192];
          bool compiling = false;
          for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            ui.build_output(std::string_view(buf, static_cast<size_t>(n)));
            std::unique_lock lk(mu_);
            size_t from = text_.size() > 16 ? text_.size() - 16 : 0;  // a word cut between reads
            text_.append(buf, static_cast<size_t>(n));
            if (!compiling && cargo_started_compiling(std::string_view(text_).substr(from))) {
              compiling = true;
              lk.unlock();
              if (on_compiling) on_compiling();
            }
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

// Debug-level timestamps of a run's phases (`-L debug`), to see where the wall time goes, with
// the CPU time this process has used since it started (all its threads; children excluded).
class PhaseLog {
 public:
  void operator()(std::string_view what) const {
    if (!log::enabled(log::Level::Debug)) return;
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
    timespec cpu{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    log::debug("+{} ms (cpu {:.1f} ms): {}", ms.count(), cpu.tv_sec * 1e3 + cpu.tv_nsec / 1e6, what);
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The UI of the run in progress, for the signal thread to abandon before it ends the process.
std::mutex g_shown_ui_mu;
RunUi* g_shown_ui = nullptr;
struct ShownUi {
  explicit ShownUi(RunUi* ui) {
    std::lock_guard lk(g_shown_ui_mu);
    g_shown_ui = ui;
  }
  ~ShownUi() {
    std::lock_guard lk(g_shown_ui_mu);
    g_shown_ui = nullptr;
  }
  ShownUi(const ShownUi&) = delete;
  ShownUi& operator=(const ShownUi&) = delete;
};

// Discovery, listing and job submission run side by side:
//   main thread:   cargo metadata (with the build already started when every package is
//                  wanted), then cargo's messages, handing each ready test binary to the pool;
//   client thread: opens the cache and prepares containers meanwhile (BackgroundClient);
//   pool threads:  list a binary (both listings at once), build its jobs, submit them.
// Jobs start as soon as the first binary is listed; the executor orders them.
int run_once(const Session& s, std::atomic<Client*>& current_client) {
  PhaseLog phase;
  const AdapterInfo& adapter = cargo_adapter();
  Filter filter = Filter::compile(s.flags.include, s.flags.exclude, *adapter.filter_language);
  UiSettings ui_settings;
  ui_settings.kind =
      s.list.tests ? (s.settings.ui == UiKind::Quiet ? UiKind::Quiet : UiKind::Simple) : s.settings.ui;
  ui_settings.stdout_tty = s.stdout_tty;
  ui_settings.width = terminal_width(STDOUT_FILENO);
  bool color = false;  // cargo colors its output only when it goes straight to a terminal
  try {
    color = effective_ui_kind(ui_settings.kind, s.stdout_tty) == UiKind::Simple && isatty(STDERR_FILENO);
  } catch (const UserError&) {
    // --ui fancy without a terminal: make_run_ui says so, once it matters.
  }

  // With no filter every package is built, so the build need not wait for the metadata.
  std::unique_ptr<ChildProcess> cargo;
  std::vector<std::string> build_args;
  if (s.flags.include.empty() && s.flags.exclude.empty() && !s.flags.init && !s.list.packages &&
      !s.list.binaries) {
    build_args = cargo_test_build_args(s.cargo, {}, color);
    cargo = std::make_unique<ChildProcess>(build_args);
  }
  CargoWorkspace ws = read_workspace(s.cargo);
  phase("cargo metadata read");
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
  // The client only when tests will run (listing needs no containers).
  std::unique_ptr<BackgroundClient> client;
  if (!s.list.tests) {
    ClientOptions co = client_options_from(s.config);
    if (co.cache_root.empty()) co.cache_root = target_dir / "maelstrom" / "cache";
    co.project_dir = ws.workspace_root;
    co.image_progress = isatty(STDERR_FILENO);
    client = std::make_unique<BackgroundClient>(std::move(co), current_client, [&spec](Client& c) {
      for (const auto& [name, container] : spec.containers()) c.add_container(name, container);
    });
  }

  fs::path state_dir = target_dir / "maelstrom" / "state";
  std::string note;
  TestListing listing = TestListing::load(test_listing_path(state_dir), &note);
  CaseListCache case_lists(state_dir / "test-binaries.json");
  {
    std::map<std::string, std::set<std::string>> keep;
    for (const auto& p : ws.packages)
      for (const auto& t : p.targets) keep[p.name].insert(artifact_key(t));
    listing.retain_packages_and_artifacts(keep);
  }

  std::vector<const CargoPackage*> selected;
  for (const auto& p : ws.packages)
    if (filter.may_match(package_fields(p))) selected.push_back(&p);
  if (selected.empty()) cargo.reset();
  if (!selected.empty() && !cargo) {
    build_args = cargo_test_build_args(s.cargo, selected, color);
    cargo = std::make_unique<ChildProcess>(build_args);
  }

  std::unique_ptr<RunUi> ui = make_run_ui(ui_settings);
  ShownUi shown(ui.get());
  std::mutex listed_mu;
  std::vector<std::string> listed_names;  // --list: the tests, printed sorted at the end
  if (!note.empty()) ui->message(note);

  RunLoopOptions loop;
  loop.cancel_job = [&client](uint64_t job) {
    if (Client* c = client ? client->ready() : nullptr) c->cancel(job);
  };
  loop.waiting_facts = [&client] { return client ? client->waiting_facts() : WaitingFacts{}; };
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
  TestRun run(
      client ? client->submitter() : JobSubmitter{},
      [&client] {
        if (client)
          if (Client* c = client->ready()) c->cancel_all();
      },
      listing, *ui, loop);

  const auto& extra_args = s.config.get_list("extra-test-binary-args");
  SharedLibraryResolver resolver = make_shared_library_resolver();
  // The binary's cases that pass the filter, as jobs (or, with --list, their names).
  auto cases_of = [&](const TestArtifact& a, const ListedCases& listed) {
    const CargoPackage& pkg = *a.package;
    std::set<std::string> ignored_set(listed.ignored.begin(), listed.ignored.end());
    std::string key = artifact_key(a.target);
    std::vector<std::pair<std::string, CaseMetadata>> all;
    for (const auto& c : listed.cases) all.emplace_back(c, CaseMetadata{});
    run.set_artifact_cases(pkg.name, key, all);
    TestBinaryLayers layers(resolver, a.executable);
    std::vector<TestCase> batch;
    for (const auto& c : listed.cases) {
      FilterFields f = case_fields(pkg, a.target, c);
      if (!filter.matches(f)) continue;
      std::string display = case_display_name(pkg.name, a.target.name, c);
      if (s.list.tests) {
        std::lock_guard lk(listed_mu);
        listed_names.push_back(display);
        continue;
      }
      TestMetadata md = spec.metadata_for(f);
      TestCase tc;
      tc.package = pkg.name;
      tc.artifact = key;
      tc.case_name = c;
      tc.name = display;
      tc.ignored = md.ignore || ignored_set.count(c);
      tc.spec.container = std::move(md.container);
      tc.spec.container.layers.push_back(layers.binary());
      if (md.include_shared_libraries) tc.spec.container.layers.push_back(layers.shared_libraries());
      tc.spec.program = "/" + a.executable.filename().string();
      tc.spec.arguments = {"--exact", "--nocapture"};
      tc.spec.arguments.insert(tc.spec.arguments.end(), extra_args.begin(), extra_args.end());
      tc.spec.arguments.push_back(c);
      tc.spec.timeout = s.settings.timeout ? *s.settings.timeout : md.timeout;
      tc.spec.limits = md.limits;
      batch.push_back(std::move(tc));
    }
    return batch;
  };
  auto submit_cases = [&](const TestArtifact& a, const ListedCases& listed, bool cached,
                          std::optional<TestRun::HoldId> hold) {
    phase(a.executable.filename().string() + (cached ? " tests known from the last run: " : " listed: ") +
          std::to_string(listed.cases.size()) + " tests");
    std::vector<TestCase> batch = cases_of(a, listed);
    if (batch.empty()) return;
    if (client) client->get();  // its construction errors end the run rather than fail each test
    run.add_cases(std::move(batch), hold);
    phase("jobs of " + a.executable.filename().string() + " submitted" + (hold ? " early" : ""));
  };
  auto handle_artifact = [&](const TestArtifact& a) {
    if (run.stopped()) return;
    std::optional<ListedCases> cached = case_lists.find(a.executable);
    ListedCases listed = cached ? std::move(*cached) : list_test_binary(a.executable, ws.workspace_root);
    if (!cached) case_lists.put(a.executable, listed);
    submit_cases(a, listed, cached.has_value(), std::nullopt);
  };

  int build_code = 0;
  bool build_failed = false;
  bool discovery_complete = true;
  std::string build_text;
  fs::path last_build_file = state_dir / "last-build.json";
  std::vector<BuiltTestBinary> built;  // this build's test binaries, for the next run
  try {
    if (cargo) {
      EarlyStart early(run);
      BuildOutputPump pump(cargo->stderr_fd(), *ui, [&early] { early.give_up(); });
      // On an error, stop cargo first: the pump's thread ends when cargo's stderr closes.
      struct KillOnUnwind {
        ChildProcess& c;
        ~KillOnUnwind() {
          if (std::uncaught_exceptions() > 0) c.kill();
        }
      } kill_on_unwind{*cargo};
      ArtifactCollector collector(selected);
      TaskPool pool(4);
      // The last build's binaries whose tests are known start now, while cargo checks them.
      if (client && !s.list.tests) {
        for (const BuiltTestBinary& b : load_last_build(last_build_file, build_args)) {
          std::optional<TestArtifact> a = recorded_artifact(b, selected);
          std::optional<ListedCases> listed = case_lists.find(b.executable);
          if (!a || !listed) continue;
          std::optional<TestRun::HoldId> hold = early.begin(b);
          if (!hold) break;  // cargo is compiling already
          submit_cases(*a, *listed, true, hold);
        }
        phase(std::to_string(early.binaries()) + " test binaries of the last build started early");
      }
      if (early.binaries() == 0) early.give_up();
      auto note_built = [&](const std::vector<TestArtifact>& ready) {
        for (const auto& a : ready)
          built.push_back({a.package->name, artifact_key(a.target), a.executable, ""});
      };
      bool layers_forgotten = false;
      auto post = [&](std::vector<TestArtifact> ready) {
        if (early.keep_back(ready)) return;
        if (!ready.empty() && early.binaries() > 0 && !layers_forgotten) {
          // The early jobs' layers are memoized, and cargo may have rewritten their files since.
          // (No early job is being submitted now: they all were, on this thread, before.)
          client->get().forget_layers();
          layers_forgotten = true;
        }
        for (auto& a : ready) {
          if (s.list.tests) {
            handle_artifact(a);  // in cargo's order, so the listing reads the same every time
          } else {
            pool.post([&handle_artifact, a = std::move(a)] { handle_artifact(a); });
          }
        }
      };
      for_each_line(cargo->stdout_fd(), [&](std::string_view line) {
        std::vector<TestArtifact> ready = collector.feed(line);
        if (collector.rebuilt()) early.give_up();
        note_built(ready);
        post(std::move(ready));
        return !run.stopped() && !pool.failed();
      });
      if (run.stopped() || pool.failed()) {
        cargo->kill();
        discovery_complete = false;
      }
      build_code = cargo->wait();
      pump.join();
      build_text = pump.text();
      phase("build done");
      ui->build_done();
      build_failed = build_code != 0 && !run.stopped() && !pool.failed();
      if (build_failed) {
        run.abandon();
        try {
          pool.wait();
        } catch (const std::exception&) {
          // The build failure is the error to report.
        }
      } else {
        if (build_code == 0 && !run.stopped() && !pool.failed()) {
          std::vector<TestArtifact> held = collector.finish();
          note_built(held);
          post(std::move(held));
          std::vector<TestArtifact> rest = early.settle(collector.rebuilt());
          if (early.binaries() > 0)
            phase("early start settled: " + std::to_string(rest.size()) + " test binaries left to run");
          post(std::move(rest));
        }
        pool.wait();  // rethrows a listing failure
      }
    }
  } catch (...) {
    run.abandon();
    run.finish(false);
    throw;
  }
  if (build_code == 0 && discovery_complete && cargo) save_last_build(last_build_file, build_args, built);
  if (run.stopped()) discovery_complete = false;
  RunResult res = run.finish(discovery_complete);
  phase("jobs done");
  try {
    listing.save(test_listing_path(state_dir));
    case_lists.save();
  } catch (const std::exception& e) {
    ui->message(std::string("warning: could not save the test listing: ") + e.what());
  }
  if (build_failed) {
    park_if_interrupted();
    // What is known: the tests that finished while the build went on.
    if (!s.flags.junit.empty()) write_junit_xml(s.flags.junit, kProgram, res.junit);
    if (effective_ui_kind(ui_settings.kind, s.stdout_tty) != UiKind::Simple)
      std::fputs(filter_build_output(build_text).c_str(), stderr);
    std::fprintf(stderr, "error: build failed: cargo test exited with code %d\n", build_code);
    return build_code;
  }
  if (s.list.tests) {
    // Binaries are listed side by side: print in one stable order, whatever finished first.
    std::sort(listed_names.begin(), listed_names.end());
    for (const std::string& line : listed_names) ui->list_line(line);
    ui->finish({}, "");
    return 0;
  }
  ui->finish(summary_lines(res.summary, ui_settings.width, ui_settings.kind == UiKind::Fancy),
             filter_build_output(build_text));
  if (!s.flags.junit.empty()) write_junit_xml(s.flags.junit, kProgram, res.junit);
  phase("done");
  return res.exit_code;
}

// What a run writes into the project, which --watch must not take for an edit: the target
// directory (build output, test listing, state, the default cache), the JUnit report, a cache
// or image depot placed in the project, and the container tags lock file.
std::vector<fs::path> run_outputs(const Session& s, const fs::path& project, const fs::path& target_dir) {
  std::vector<fs::path> out{target_dir, project / kTagLockFileName};
  if (!s.flags.junit.empty()) out.push_back(fs::absolute(s.flags.junit));
  ClientOptions co = client_options_from(s.config);
  for (const fs::path& p : {co.cache_root, co.container_image_depot_root})
    if (!p.empty()) out.push_back(fs::absolute(p));
  return out;
}

// Ctrl-C / SIGTERM: the jobs' namespaces die with their PID 1; cargo and listing children get
// the terminal's signal themselves.
void start_signal_thread(std::atomic<Client*>& client, const sigset_t& set) {
  std::thread([&client, set] {
    int sig = 0;
    sigwait(&set, &sig);
    // First thing: cargo, which got the terminal's signal too, may fail meanwhile and must not
    // be reported.
    g_interrupted = true;
    // Held until the process ends: the run's UI stays alive (once abandoned it reports nothing
    // more), and the main thread, finishing the run, waits for the exit here.
    std::lock_guard lk(g_shown_ui_mu);
    if (g_shown_ui) g_shown_ui->abandon();
    if (Client* c = client.load()) c->cancel_all();
    std::fflush(stdout);
    std::fprintf(stderr, "\ninterrupted\n");
    _exit(128 + sig);
  }).detach();
}

// The parser takes positional words as test binary arguments with or without `--`; like
// Maelstrom's, we take them only after it (`cargo maelstrom adds` is not a name filter here).
void refuse_words_before_double_dash(const std::vector<std::string>& words, const Config& config) {
  const ConfigValue& v = config.get("extra-test-binary-args");
  if (v.source != "command-line arguments after --") return;
  auto dd = std::find(words.begin(), words.end(), "--");
  size_t after = dd == words.end() ? 0 : static_cast<size_t>(words.end() - dd - 1);
  if (v.list.size() <= after) return;
  const std::string& word = v.list.front();
  throw UsageError("unexpected argument '" + word +
                   "': to run only some tests use a filter, e.g. -i 'name.contains(" + word +
                   ")'; arguments for the test binaries go after --");
}

}  // namespace

int cargo_maelstrom_main(int argc, char** argv) {
  // `cargo maelstrom ARGS` runs `cargo-maelstrom maelstrom ARGS`.
  std::vector<std::string> words(argv, argv + argc);
  if (words.size() > 1 && words[1] == "maelstrom") words.erase(words.begin() + 1);
  words = rewrite_runner_flag_aliases(std::move(words));
  std::vector<char*> args;
  for (auto& w : words) args.push_back(w.data());
  CLI::App app{"Run Rust tests, each in its own container (a drop-in for `cargo test`).", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("-V,--version", version_line(kProgram));
    ConfigLoader loader(program_config_info(kProgram), app);
    add_client_config(loader, "cargo-maelstrom", "maelstrom/cache in cargo's target directory");
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
    refuse_words_before_double_dash(words, config);
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
    if (!flags.watch || flags.init || list.tests || list.binaries || list.packages) {
      try {
        return run_once(s, current_client);
      } catch (...) {
        park_if_interrupted();  // e.g. cargo metadata, killed by the same Ctrl-C
        throw;
      }
    }
    // --watch: run, wait for a change outside the target directory, run again. The watch starts
    // before the run so that edits made while tests run trigger the next one.
    for (;;) {
      CargoWorkspace ws = read_workspace(s.cargo);
      fs::path target_dir = s.cargo.target_dir ? fs::absolute(*s.cargo.target_dir) : ws.target_directory;
      DirectoryWatcher watcher(ws.workspace_root, run_outputs(s, ws.workspace_root, target_dir));
      int code = 0;
      try {
        code = run_once(s, current_client);
      } catch (const UserError& e) {
        park_if_interrupted();
        std::fprintf(stderr, "error: %s\n", e.what());
        code = 1;
      }
      park_if_interrupted();
      std::printf("exit code %d; waiting for changes in %s (Ctrl-C to stop)\n", code,
                  ws.workspace_root.c_str());
      std::fflush(stdout);
      watcher.wait_for_change();
    }
  });
}

}  // namespace mael
