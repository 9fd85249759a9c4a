#include "runner/driver.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>

#include "base/descendants.h"
#include "base/error.h"
#include "base/interrupt.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "base/version.h"
#include "client/client.h"
#include "client/client_config.h"
#include "image/tag_lock.h"
#include "runner/client_jobs.h"
#include "runner/partition.h"
#include "runner/report_junit.h"
#include "runner/run_ui.h"
#include "runner/runner_cli.h"
#include "runner/task_pool.h"
#include "runner/result_cache.h"
#include "runner/test_listing.h"
#include "runner/watch.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

struct Session {
  TestAdapter& adapter;
  const Config& config;
  const RunnerFlags& flags;
  const ListFlags& list;
  RunnerSettings settings;
  bool stdout_tty = false;
  std::optional<Partition> partition;
};

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

// One run's discovery side: the build reports test binaries here; each is listed (or its cases
// found in the cache) and its cases submitted on the pool's threads, so jobs start as soon as
// the first binary is listed while the build goes on.
class Pipeline final : public BuildSink {
 public:
  Pipeline(const Session& s, const Project& project, const Filter& filter, const TestSpecFile& spec,
           TestRun& run, RunUi& ui, BackgroundClient* client, CaseListCache& case_lists, const PhaseLog& phase)
      : s_(s),
        project_(project),
        filter_(filter),
        spec_(spec),
        run_(run),
        ui_(ui),
        client_(client),
        case_lists_(case_lists),
        phase_(phase) {}

  void output(std::string_view text) override { ui_.build_output(text); }
  void ready(TestBinary b) override {
    if (s_.list.tests) {
      handle(b);  // in the build's order, so the listing reads the same every time
    } else {
      pool_.post([this, b = std::move(b)] { handle(b); });
    }
  }
  bool stop_requested() const override { return run_.stopped() || pool_.failed(); }
  bool running_tests() const override { return !s_.list.tests; }
  std::chrono::nanoseconds longest_known_test(const std::string& package_key) const override {
    auto it = longest_.find(package_key);
    return it == longest_.end() ? std::chrono::nanoseconds(0) : it->second;
  }
  // Read once, before any test runs (the run updates the listing meanwhile).
  void note_longest(const TestListing& listing) {
    for (const auto& [package, artifacts] : listing.packages())
      for (const auto& [artifact, cases] : artifacts)
        for (const auto& [name, data] : cases)
          if (auto c = listing.get_case(package, artifact, name))
            longest_[package] = std::max(longest_[package], c->second);
  }
  TestRun& run() override { return run_; }
  std::optional<ListedCases> known_cases(const fs::path& executable) override {
    return case_lists_.find(executable);
  }
  void submit_known(const TestBinary& b, const ListedCases& cases, TestRun::HoldId hold) override {
    submit(b, cases, true, hold);
  }
  void forget_layers() override {
    if (client_) client_->get().forget_layers();
  }
  const TestSpecFile& spec() const override { return spec_; }

  bool failed() const { return pool_.failed(); }
  void wait() { pool_.wait(); }
  // --list-tests: the names, sorted (binaries are listed side by side).
  std::vector<std::string> listed_names() {
    std::lock_guard lk(listed_mu_);
    std::sort(listed_names_.begin(), listed_names_.end());
    return listed_names_;
  }

 private:
  void handle(const TestBinary& b) {
    if (run_.stopped()) return;
    bool cache = s_.adapter.cache_case_lists();
    std::optional<ListedCases> cached = cache ? case_lists_.find(b.executable) : std::nullopt;
    ListedCases listed = cached ? std::move(*cached) : s_.adapter.list_cases(project_, b);
    if (!cached && cache) case_lists_.put(b.executable, listed);
    submit(b, listed, cached.has_value(), std::nullopt);
  }

  void submit(const TestBinary& b, const ListedCases& listed, bool cached, std::optional<TestRun::HoldId> hold) {
    std::string file = b.executable.filename().string();
    phase_(file + (cached ? " tests known from the last run: " : " listed: ") + std::to_string(listed.cases.size()) +
           " tests");
    std::vector<TestCase> batch = cases_of(b, listed);
    if (batch.empty()) return;
    if (client_) client_->get();  // its construction errors end the run rather than fail each test
    run_.add_cases(std::move(batch), hold);
    phase_("jobs of " + file + " submitted" + (hold ? " early" : ""));
  }

  // The binary's cases that pass the filter, as jobs (or, with --list-tests, their names).
  std::vector<TestCase> cases_of(const TestBinary& b, const ListedCases& listed) {
    std::set<std::string> ignored_set(listed.ignored.begin(), listed.ignored.end());
    std::vector<std::pair<std::string, CaseMetadata>> all;
    for (const auto& c : listed.cases) all.emplace_back(c, s_.adapter.listing_metadata(b, c));
    run_.set_artifact_cases(b.package_key, b.artifact, all);
    TestBinaryLayers layers(resolver_, b.executable);
    struct Selected {
      const std::string* name;
      FilterFields fields;
      std::string display;
    };
    std::vector<Selected> selected;
    for (const auto& c : listed.cases) {
      FilterFields f = s_.adapter.case_fields(b, c);
      if (filter_.matches(f)) selected.push_back({&c, std::move(f), s_.adapter.display_name(b, c)});
    }
    if (s_.partition) {
      std::vector<std::string> names;
      for (const auto& sel : selected) names.push_back(sel.display);
      std::vector<bool> in = in_partition(*s_.partition, names);
      std::vector<Selected> share;
      for (size_t i = 0; i < selected.size(); ++i)
        if (in[i]) share.push_back(std::move(selected[i]));
      selected = std::move(share);
    }
    std::vector<TestCase> batch;
    for (auto& [name, f, display] : selected) {
      const std::string& c = *name;
      if (s_.list.tests) {
        std::lock_guard lk(listed_mu_);
        listed_names_.push_back(display);
        continue;
      }
      TestMetadata md = spec_.metadata_for(f);
      TestCase tc;
      tc.package = b.package_key;
      tc.artifact = b.artifact;
      tc.case_name = c;
      tc.name = std::move(display);
      tc.ignored = md.ignore || ignored_set.count(c);
      tc.spec.container = md.container;
      tc.spec.timeout = s_.settings.timeout ? *s_.settings.timeout : md.timeout;
      tc.slow_timeout = md.slow_timeout ? *md.slow_timeout : s_.settings.slow_timeout;
      tc.retries = md.retries ? *md.retries : s_.settings.retries;
      tc.cache = md.cache;
      tc.spec.limits = md.limits;
      s_.adapter.make_job(b, md, layers, tc);
      batch.push_back(std::move(tc));
    }
    return batch;
  }

  const Session& s_;
  const Project& project_;
  const Filter& filter_;
  const TestSpecFile& spec_;
  TestRun& run_;
  RunUi& ui_;
  BackgroundClient* client_;
  CaseListCache& case_lists_;
  const PhaseLog& phase_;
  SharedLibraryResolver resolver_ = make_shared_library_resolver();
  std::map<std::string, std::chrono::nanoseconds> longest_;
  std::mutex listed_mu_;
  std::vector<std::string> listed_names_;
  TaskPool pool_{4};  // last: its threads use the members above
};

int list_packages(const Project& project, const Filter& filter) {
  for (const auto& p : project.packages)
    if (filter.may_match(p.fields)) std::printf("%s\n", p.display.c_str());
  return 0;
}

int write_spec_file(const fs::path& spec_path, std::string_view default_spec) {
  if (fs::exists(spec_path)) {
    std::printf("Config already exists at %s. Doing nothing.\n", spec_path.c_str());
    return 1;
  }
  write_default_spec_file(spec_path, default_spec);
  std::printf("Wrote default config to %s.\n", spec_path.c_str());
  return 0;
}

// The cached results of tests still in the listing, written beside it; like the listing's, a
// failure to write is a warning (the next run runs more tests, nothing worse).
void save_results(ResultCache& results, const TestListing& listing, const fs::path& state_dir, RunUi& ui) {
  results.retain([&](const std::string& package, const std::string& artifact, const std::string& test_case) {
    auto p = listing.packages().find(package);
    if (p == listing.packages().end()) return false;
    auto a = p->second.find(artifact);
    return a != p->second.end() && a->second.count(test_case) > 0;
  });
  try {
    results.save(result_cache_path(state_dir));
  } catch (const std::exception& e) {
    ui.message(std::string("warning: could not save the cached results: ") + e.what());
  }
}

// Discovery, listing and job submission run side by side:
//   main thread:   discovery (an adapter may start the build meanwhile), then the build, handing
//                  each ready test binary to the pipeline;
//   client thread: opens the cache and prepares containers meanwhile (BackgroundClient);
//   pool threads:  list a binary, make its jobs, submit them.
// Jobs start as soon as the first binary is listed; the executor orders them.
int run_once(const Session& s, std::atomic<Client*>& current_client) {
  PhaseLog phase;
  TestAdapter& adapter = s.adapter;
  const AdapterInfo& info = adapter.info();
  Filter filter = Filter::compile(s.flags.include, s.flags.exclude, *info.filter_language);
  UiSettings ui_settings;
  ui_settings.kind =
      s.list.tests ? (s.settings.ui == UiKind::Quiet ? UiKind::Quiet : UiKind::Simple) : s.settings.ui;
  ui_settings.stdout_tty = s.stdout_tty;
  ui_settings.width = terminal_width(STDOUT_FILENO);
  bool color = false;  // build tools color their output only when it goes straight to a terminal
  try {
    color = effective_ui_kind(ui_settings.kind, s.stdout_tty) == UiKind::Simple && isatty(STDERR_FILENO);
  } catch (const UserError&) {
    // --ui fancy without a terminal: make_run_ui says so, once it matters.
  }

  if (s.flags.init) return write_spec_file(adapter.project_root() / info.spec_file_name, info.default_spec);
  bool build_everything = s.flags.include.empty() && s.flags.exclude.empty() && !s.list.packages;
  struct EndRun {
    TestAdapter& a;
    ~EndRun() { a.end_run(); }
  } end_run{adapter};
  Project project = adapter.discover(build_everything, color);
  phase("discovery done");
  fs::path spec_path = project.root / info.spec_file_name;
  if (s.list.packages) return list_packages(project, filter);
  if (std::optional<int> code = adapter.list_without_build(project, filter)) return *code;

  TestSpecFile spec = TestSpecFile::load(spec_path, info.default_spec, *info.filter_language, project.vars);
  // The client only when tests will run (listing needs no containers unless the adapter's does).
  std::unique_ptr<BackgroundClient> client;
  if (!s.list.tests || adapter.lists_in_containers()) {
    ClientOptions co = client_options_from(s.config);
    if (co.cache_root.empty()) co.cache_root = project.default_cache;
    co.project_dir = project.root;
    co.image_progress = isatty(STDERR_FILENO);
    client = std::make_unique<BackgroundClient>(std::move(co), current_client, [&spec](Client& c) {
      for (const auto& [name, container] : spec.containers()) c.add_container(name, container);
    });
  }

  std::string note;
  TestListing listing = TestListing::load(test_listing_path(project.state_dir), &note);
  CaseListCache case_lists(project.state_dir / "test-binaries.json");
  if (project.listing_keys_known) listing.retain_packages_and_artifacts(project.listing_keys);
  ResultCache results(version_line(info.program));
  std::optional<std::string> results_warning;
  if (!s.list.tests) results_warning = results.load(result_cache_path(project.state_dir));

  std::vector<size_t> selected;
  for (size_t i = 0; i < project.packages.size(); ++i)
    if (filter.may_match(project.packages[i].fields)) selected.push_back(i);

  std::unique_ptr<RunUi> ui = make_run_ui(ui_settings);
  ShownUi shown(ui.get());
  if (!note.empty()) ui->message(note);
  if (results_warning) ui->message(*results_warning);

  RunLoopOptions loop;
  loop.cancel_job = [&client](uint64_t job) {
    if (Client* c = client ? client->ready() : nullptr) c->cancel(job);
  };
  loop.waiting_facts = [&client] { return client ? client->waiting_facts() : WaitingFacts{}; };
  loop.repeat = s.settings.repeat;
  loop.stop_after = s.settings.stop_after;
  loop.flaky_fails = s.settings.flaky_fails;
  loop.hooks = [&adapter](const TestCase& tc) { return adapter.outcome_hooks(tc); };
  loop.results = &results;
  loop.use_cached_results = !s.settings.no_cache;
  TestRun run(
      client ? adapter.wrap_submitter(client->submitter()) : JobSubmitter{},
      [&client] {
        if (client)
          if (Client* c = client->ready()) c->cancel_all();
      },
      listing, *ui, loop);

  BuildResult build;
  bool build_failed = false;
  bool discovery_complete = true;
  std::vector<std::string> listed_names;
  try {
    Pipeline pipeline(s, project, filter, spec, run, *ui, client.get(), case_lists, phase);
    pipeline.note_longest(listing);
    build = adapter.build(project, selected, color, pipeline);
    phase("build done");
    ui->build_done();
    if (build.cut_short || pipeline.stop_requested()) discovery_complete = false;
    build_failed = build.exit_code != 0 && !run.stopped() && !pipeline.failed();
    if (build_failed) {
      run.abandon();
      try {
        pipeline.wait();
      } catch (const std::exception&) {
        // The build failure is the error to report.
      }
    } else {
      pipeline.wait();  // rethrows a listing failure
    }
    listed_names = pipeline.listed_names();
  } catch (...) {
    run.abandon();
    run.finish(false);
    throw;
  }
  if (run.stopped()) discovery_complete = false;
  RunResult res = run.finish(discovery_complete);
  phase("jobs done");
  if (build.listing_keys) listing.retain_packages_and_artifacts(*build.listing_keys);
  try {
    listing.save(test_listing_path(project.state_dir));
    case_lists.save();
  } catch (const std::exception& e) {
    ui->message(std::string("warning: could not save the test listing: ") + e.what());
  }
  if (!s.list.tests) save_results(results, listing, project.state_dir, *ui);
  std::string program(info.program);
  if (build_failed) {
    park_if_interrupted();
    // What is known: the tests that finished while the build went on.
    if (!s.flags.junit.empty()) write_junit_xml(s.flags.junit, program, res.junit);
    if (effective_ui_kind(ui_settings.kind, s.stdout_tty) != UiKind::Simple)
      std::fputs(build.output.c_str(), stderr);
    std::fprintf(stderr, "error: build failed: %s\n", build.failure.c_str());
    return build.exit_code;
  }
  if (s.list.tests) {
    for (const std::string& line : listed_names) ui->list_line(line);
    ui->finish({}, "");
    return 0;
  }
  ui->finish(summary_lines(res.summary, ui_settings.width, ui_settings.kind == UiKind::Fancy), build.output);
  if (!s.flags.junit.empty()) write_junit_xml(s.flags.junit, program, res.junit);
  phase("done");
  return res.exit_code;
}

// What a run writes into the project, which --watch must not take for an edit: the adapter's
// outputs (build output, test listing, state, the default cache), the JUnit report, a cache or
// image depot placed in the project, and the container tags lock file.
std::vector<fs::path> run_outputs(const Session& s, const Project& project) {
  std::vector<fs::path> out = project.outputs;
  out.push_back(project.root / kTagLockFileName);
  if (!s.flags.junit.empty()) out.push_back(fs::absolute(s.flags.junit));
  ClientOptions co = client_options_from(s.config);
  for (const fs::path& p : {co.cache_root, co.container_image_depot_root})
    if (!p.empty()) out.push_back(fs::absolute(p));
  return out;
}

// Ctrl-C / SIGTERM: the jobs' namespaces die with their PID 1; build tools, listing children and
// whatever they started get the signal from us too, then SIGKILL.
void start_signal_thread(std::atomic<Client*>& client, const sigset_t& set) {
  std::thread([&client, set] {
    int sig = 0;
    sigwait(&set, &sig);
    // First thing: the build tool, which got the terminal's signal too, may fail meanwhile and
    // must not be reported.
    g_interrupted = true;
    // Held until the process ends: the run's UI stays alive (once abandoned it reports nothing
    // more), and the main thread, finishing the run, waits for the exit here.
    std::lock_guard lk(g_shown_ui_mu);
    if (g_shown_ui) g_shown_ui->abandon();
    if (Client* c = client.load()) c->cancel_all();
    // The build tool and its own children (go's compilers, cargo's rustc) got a Ctrl-C from the
    // terminal too, but not a SIGTERM sent to us alone: every process below us gets our signal,
    // and what is still there half a second later is killed.
    end_descendants(sig, std::chrono::milliseconds(500));
    std::fflush(stdout);
    std::fprintf(stderr, "\ninterrupted\n");
    _exit(128 + sig);
  }).detach();
}

// The parser takes positional words as test binary arguments with or without `--`; like
// Maelstrom's, we take them only after it (`cargo maelstrom adds` is not a name filter here).
void refuse_words_before_double_dash(const std::vector<std::string>& words, const Config& config,
                                     const std::string& key) {
  const ConfigValue& v = config.get(key);
  if (v.source != "command-line arguments after --") return;
  auto dd = std::find(words.begin(), words.end(), "--");
  size_t after = dd == words.end() ? 0 : static_cast<size_t>(words.end() - dd - 1);
  if (v.list.size() <= after) return;
  const std::string& word = v.list.front();
  throw UsageError("unexpected argument '" + word +
                   "': to run only some tests use a filter, e.g. -i 'name.contains(" + word +
                   ")'; arguments for the tests go after --");
}

}  // namespace

void run_test_binary(const TestBinary& binary, const TestMetadata& md, TestBinaryLayers& layers, TestCase& tc) {
  tc.spec.container.layers.push_back(layers.binary());
  if (md.include_shared_libraries) tc.spec.container.layers.push_back(layers.shared_libraries());
  tc.spec.program = "/" + binary.executable.filename().string();
}

int run_test_runner(TestAdapter& adapter, int argc, char** argv) {
  const AdapterInfo& info = adapter.info();
  std::string program(info.program);
  std::vector<std::string> words = adapter.rewrite_args(std::vector<std::string>(argv, argv + argc));
  words = rewrite_runner_flag_aliases(std::move(words));
  std::vector<char*> args;
  for (auto& w : words) args.push_back(w.data());
  CLI::App app{adapter.description(), program};
  return run_tool(program.c_str(), app, [&] {
    app.set_version_flag("-V,--version", version_line(program));
    ConfigLoader loader(program_config_info(program), app);
    add_client_config(loader, program, adapter.default_cache_description());
    add_runner_config(loader);
    adapter.add_config(loader);
    RunnerFlags flags;
    add_runner_flags(app, flags);
    ListFlags list;
    auto* lt = app.add_flag("-l,--list-tests,--list", list.tests,
                            "print the tests that would run, without running them");
    auto* lp =
        app.add_flag("--list-packages", list.packages, "print the packages that would run, without building");
    lt->excludes(lp);
    adapter.add_flags(app);
    app.parse(static_cast<int>(args.size()), args.data());
    Config config = loader.load(environment_map());
    refuse_words_before_double_dash(words, config, adapter.trailing_args_key());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());
    adapter.configure(config);

    Session s{adapter, config, flags, list, runner_settings_from(config), isatty(STDOUT_FILENO) != 0, {}};
    if (!flags.partition.empty()) s.partition = parse_partition(flags.partition);
    // Block the signals before any thread starts, so only the signal thread takes them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::atomic<Client*> current_client{nullptr};
    start_signal_thread(current_client, set);
    if (!flags.watch || flags.init || list.tests || list.packages || adapter.listing_only()) {
      try {
        return run_once(s, current_client);
      } catch (...) {
        park_if_interrupted();  // e.g. the build tool's discovery, killed by the same Ctrl-C
        throw;
      }
    }
    // --watch: run, wait for a change outside the run's outputs, run again. The watch starts
    // before the run so that edits made while tests run trigger the next one.
    std::optional<Project> last;
    for (;;) {
      // A discovery failing between runs (a new, still empty source file, say) is reported and
      // the watch goes on with the last project known.
      bool discovered = true;
      try {
        last = adapter.discover(false, false);
      } catch (const UserError& e) {
        if (!last) throw;
        park_if_interrupted();
        std::fprintf(stderr, "error: %s\n", e.what());
        discovered = false;
      }
      const Project& project = *last;
      DirectoryWatcher watcher(project.root, run_outputs(s, project));
      int code = 1;
      if (discovered) {
        try {
          code = run_once(s, current_client);
        } catch (const UserError& e) {
          park_if_interrupted();
          std::fprintf(stderr, "error: %s\n", e.what());
          code = 1;
        }
      }
      park_if_interrupted();
      std::printf("exit code %d; waiting for changes in %s (Ctrl-C to stop)\n", code, project.root.c_str());
      std::fflush(stdout);
      watcher.wait_for_change();
    }
  });
}

}  // namespace mael
