#include "pytest/pytest_main.h"

#include <sys/utsname.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/config.h"
#include "base/digest.h"
#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "base/version.h"
#include "pytest/collect_script.h"
#include "pytest/collection_record.h"
#include "pytest/pip_layer.h"
#include "pytest/pytest_collect.h"
#include "pytest/pytest_outcome.h"
#include "pytest/python_layers.h"
#include "pytest/warm_batches.h"
#include "pytest/warm_script.h"
#include "runner/adapters.h"
#include "runner/driver.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStateDir = ".maelstrom-pytest";
constexpr const char* kPackage = "default";  // Maelstrom's one package of a pytest project
// A test (or class, or module) with this marker runs in a fresh interpreter of its own.
constexpr const char* kFreshMarker = "fresh_interpreter";
constexpr size_t kWarmOutputCap = 64 * 1024;  // bytes kept of each stream of a test in a batch

// What a container is made from, for messages: its image, its parent container, or the interpreter
// on PATH whose files it has.
std::string parent_name(const ContainerParent& parent, const std::string& program) {
  if (const auto* image = std::get_if<ImageRef>(&parent)) return image->name;
  if (const auto* c = std::get_if<ContainerRef>(&parent)) return "container " + c->name;
  return program;
}

// The job running `items` (FILE::ITEM) of one file in one warm process (warm_script.cc), made
// from the fresh job of the first: the same interpreter, container and pytest arguments.
JobSpec warm_batch_job(const JobSpec& first, const std::vector<std::string>& items) {
  JobSpec b = first;
  // --capture=sys: pytest's terminal output stays on the process's stdout, which each fork
  // points at its own file (fd capture would keep writing where the warm process started).
  nlohmann::json args = nlohmann::json::array({"--capture=sys"});
  for (size_t i = 2; i + 1 < first.arguments.size(); ++i) args.push_back(first.arguments[i]);
  // Each test gets these tmpfs mounts fresh, as a job of its own would.
  nlohmann::json tmp_mounts = nlohmann::json::array();
  for (const Mount& m : first.container.mounts) {
    if (m.type == MountType::Tmp)
      tmp_mounts.push_back(m.mount_point.empty() || m.mount_point[0] != '/' ? "/" + m.mount_point : m.mount_point);
    if (m.type == MountType::Devices && std::find(m.devices.begin(), m.devices.end(), Device::Shm) != m.devices.end())
      tmp_mounts.push_back("/dev/shm");  // a tmpfs too (job_script.cc)
  }
  nlohmann::json cfg = {{"args", args},
                        {"items", items},
                        {"timeout_ms", first.timeout ? nlohmann::json(first.timeout->count()) : nlohmann::json()},
                        {"cap", kWarmOutputCap},
                        {"tmp_mounts", tmp_mounts}};
  b.arguments = {"-c", std::string(pytest_warm_script()), cfg.dump()};
  return b;
}

void add_pytest_config(ConfigLoader& loader) {
  loader.add({.name = "collect-from-module",
              .type = ConfigType::String,
              .help = "collect tests from this module (pytest --pyargs MODULE) instead of pytest's default collection",
              .value_name = "MODULE"});
  loader.add({.name = "extra-pytest-args",
              .type = ConfigType::List,
              .help = "arguments for pytest, both when collecting and when running a test",
              .value_name = "ARGS"});
  loader.add({.name = "extra-pytest-collect-args",
              .type = ConfigType::List,
              .help = "arguments for pytest when collecting tests",
              .value_name = "ARGS"});
  loader.add({.name = "fresh-interpreter",
              .type = ConfigType::Bool,
              .help = "run every test in a fresh interpreter, as Maelstrom does, instead of forking it from a warm "
                      "process that imported its module once",
              .default_value = "false"});
  loader.add({.name = "extra-pytest-test-args",
              .type = ConfigType::List,
              .help = "arguments for pytest when running a test (give them after --)",
              .value_name = "ARGS",
              .var_arg = true});
}

// Python's side of the test runner: the current directory is the project; pytest's collection
// (run by the Python on PATH) finds the items; each file is an artifact of the one package
// "default", and each item one job running `python -m pytest FILE::ITEM`.
class PytestAdapter final : public TestAdapter {
 public:
  const AdapterInfo& info() const override { return pytest_adapter(); }
  std::string description() const override {
    return "Run Python tests with pytest, each in its own container (a drop-in for `pytest`).";
  }
  void add_config(ConfigLoader& loader) override { add_pytest_config(loader); }
  std::string trailing_args_key() const override { return "extra-pytest-test-args"; }
  void configure(const Config& c) override {
    collect_from_module_ = c.get_optional_string("collect-from-module");
    run_flags_.extra_args = c.get_list("extra-pytest-args");
    collect_args_ = c.get_list("extra-pytest-collect-args");
    run_flags_.extra_test_args = c.get_list("extra-pytest-test-args");
    fresh_interpreter_ = c.get_bool("fresh-interpreter");
    no_cache_ = c.get_bool("no-cache");
    broker_ = c.get_optional_string("broker");
    slots_ = static_cast<size_t>(std::max<int64_t>(c.get_int("slots"), 1));
  }
  std::string default_cache_description() const override { return ".maelstrom-pytest/cache in the current directory"; }

  fs::path project_root() override { return fs::current_path(); }

  Project discover(bool, bool) override {
    root_ = fs::current_path();
    fs::path hidden = root_ / kStateDir;
    Project p;
    p.root = root_;
    p.state_dir = hidden / "state";
    state_dir_ = p.state_dir;
    p.default_cache = hidden / "cache";
    p.outputs = {hidden};
    p.packages.push_back({kPackage, package_fields()});
    p.listing_keys_known = false;  // the files are known once collected, in build()
    return p;
  }
  bool lists_in_containers() const override { return true; }

  // Collects in the test container, then reports each file with items as a test binary.
  BuildResult build(const Project&, const std::vector<size_t>& selected, bool, BuildSink& sink) override {
    BuildResult r;
    if (selected.empty()) return r;
    std::optional<BuildResult> failed = collect(sink);
    if (failed) return *failed;
    r.listing_keys.emplace();
    std::set<std::string>& keys = (*r.listing_keys)[kPackage];
    for (const auto& f : files_) {
      keys.insert(f);
      if (sink.stop_requested()) {
        r.cut_short = true;
        continue;
      }
      TestBinary b;
      b.package = 0;
      b.package_key = kPackage;
      b.artifact = f;
      b.executable = root_ / f;
      b.fields = package_fields();
      b.fields.strings["file"] = f;
      sink.ready(std::move(b));
    }
    return r;
  }

  bool cache_case_lists() const override { return false; }
  ListedCases list_cases(const Project&, const TestBinary& b) override {
    ListedCases l;
    for (const PytestItem* item : items_of(b.artifact)) {
      l.cases.push_back(item->name);
      if (item->skip) l.ignored.push_back(item->name);
    }
    return l;
  }
  std::string display_name(const TestBinary& b, const std::string& case_name) override {
    return item(b, case_name).node_id;
  }
  FilterFields case_fields(const TestBinary& b, const std::string& case_name) override {
    const PytestItem& i = item(b, case_name);
    FilterFields f = b.fields;
    f.strings["name"] = case_name;
    f.strings["node_id"] = i.node_id;
    f.lists["markers"] = i.markers;
    return f;
  }
  CaseMetadata listing_metadata(const TestBinary& b, const std::string& case_name) override {
    const PytestItem& i = item(b, case_name);
    return {{"node_id", i.node_id}, {"markers", i.markers}};
  }

  void make_job(const TestBinary& b, const TestMetadata& md, TestBinaryLayers&, TestCase& tc) override {
    const PytestItem& i = item(b, tc.case_name);
    add_interpreter(md, tc.spec);
    tc.spec.arguments = pytest_test_arguments(i.file, i.inner, run_flags_);
    // A test may share a warm interpreter unless told otherwise, or unless its container has a
    // writable root (which each test must have fresh).
    bool fresh = fresh_interpreter_ || md.container.enable_writable_file_system.value_or(false) ||
                 std::find(i.markers.begin(), i.markers.end(), kFreshMarker) != i.markers.end();
    if (!fresh) {
      std::lock_guard lk(warm_mu_);
      warm_items_.insert(tc.spec.arguments.back());
    }
  }
  JobSubmitter wrap_submitter(JobSubmitter inner) override {
    WarmPlan plan;
    plan.slots = slots_;
    plan.item_of = [this](const JobSpec& s) -> std::optional<std::string> {
      if (s.arguments.size() < 3 || s.arguments[0] != "-m" || s.arguments[1] != "pytest") return std::nullopt;
      std::lock_guard lk(warm_mu_);
      if (!warm_items_.count(s.arguments.back())) return std::nullopt;
      return s.arguments.back();
    };
    plan.batch_job = [](const JobSpec& first, const std::vector<std::string>& items) {
      return warm_batch_job(first, items);
    };
    raw_submit_ = inner;
    batcher_ = std::make_unique<WarmBatcher>(std::move(inner), std::move(plan));
    return [b = batcher_.get()](const JobSpec& spec, std::function<void(JobState)> on_state,
                                std::function<void(JobOutcome)> on_done, const JobAdmit& admit) {
      return b->submit(spec, std::move(on_state), std::move(on_done), admit);
    };
  }
  void end_run() override {
    batcher_.reset();
    raw_submit_ = nullptr;
    std::lock_guard lk(pip_mu_);
    pip_layers_.clear();
  }
  OutcomeHooks outcome_hooks(const TestCase&) override {
    OutcomeHooks h;
    h.skipped = [](std::string_view out) { return pytest_skip_reason(out); };
    return h;
  }

 private:
  static FilterFields package_fields() { return {{{"package", kPackage}}, {}}; }

  // The interpreter of a job: the host's (its files as layers) when the container has no image,
  // else the image's, with the pip packages of an image named python.
  void add_interpreter(const TestMetadata& md, JobSpec& spec) {
    if (std::holds_alternative<std::monostate>(md.container.parent)) {
      const PythonLayers& py = host_python();
      spec.container.layers.insert(spec.container.layers.end(), py.layers.begin(), py.layers.end());
      spec.program = py.program;
    } else {
      spec.program = "/usr/local/bin/python";  // where Python images have it, as in Maelstrom
      if (const auto* image = std::get_if<ImageRef>(&md.container.parent))
        if (std::optional<LayerSpec> pip = pip_layer(*image)) spec.container.layers.push_back(*pip);
    }
  }

  // The entries of the project's directory but our own, which collection may descend into.
  nlohmann::json project_names() const {
    nlohmann::json names = nlohmann::json::array();
    std::error_code ec;
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename() != kStateDir) names.push_back(it->path().filename().string());
    if (ec) throw UserError("cannot read the project directory " + root_.string() + ": " + ec.message());
    std::sort(names.begin(), names.end());  // the same directory gives the same job
    return names;
  }

  // pytest's collection, run in a job with the container every test gets (the directives that
  // apply whatever the test), so that it sees the files, packages and interpreter the tests
  // will. Returns the build's failure when pytest's collection fails.
  std::optional<BuildResult> collect(BuildSink& sink) {
    const TestMetadata md = sink.spec().metadata_for(package_fields());
    JobSpec job;
    job.container = md.container;
    job.timeout = md.timeout;
    job.limits = md.limits;
    add_interpreter(md, job);
    job.arguments = {"-c", std::string(pytest_collect_script()), project_names().dump()};
    if (collect_from_module_) job.arguments.insert(job.arguments.end(), {"--pyargs", *collect_from_module_});
    job.arguments.insert(job.arguments.end(), run_flags_.extra_args.begin(), run_flags_.extra_args.end());
    job.arguments.insert(job.arguments.end(), collect_args_.begin(), collect_args_.end());
    std::optional<JobOutcome> ran = run_collection(job, md.cache);
    if (!ran) return std::nullopt;  // collected
    JobOutcome& out = *ran;
    std::string where = "the test container (" + parent_name(md.container.parent, job.program) + ")";
    if (const auto* e = std::get_if<JobError>(&out.result))
      throw UserError("collecting tests in " + where + ": " + e->message);
    BuildResult r;
    r.output = out.effects.stderr_.first;
    if (const auto* exited = std::get_if<Exited>(&out.result)) {
      if (exited->code == 97)
        throw UserError("pytest is not importable in " + where +
                        ": add it to the image (an image named python installs test-requirements.txt) or to the "
                        "active virtualenv");
      r.exit_code = exited->code;
      r.failure = mael::format("pytest's collection exited with code {}", exited->code);
    } else if (sink.stop_requested()) {
      r.cut_short = true;
      return r;
    } else {
      r.exit_code = 1;
      r.failure = std::holds_alternative<TimedOut>(out.result) ? "pytest's collection timed out"
                                                               : "pytest's collection was killed";
    }
    sink.output(r.output);
    return r;
  }

  // Runs the collection job, unless its key is that of the kept collection (collection_record.h).
  // nullopt: the items are collected (kept, or by a job that succeeded, which is kept for the
  // next run); else the outcome of the job that failed.
  std::optional<JobOutcome> run_collection(const JobSpec& job, bool cacheable) {
    const fs::path file = collection_record_path(state_dir_);
    const std::string tool = version_line(info().program);
    std::optional<CollectionRecord> kept;
    std::vector<PytestItem> kept_items;
    if (cacheable && !no_cache_) kept = load_collection_record(file, tool);
    if (kept) {
      try {
        kept_items = parse_collection(decode_collection_output(kept->stdout_), "the kept collection");
      } catch (const UserError& e) {
        log::warn("ignoring the kept collection in {} ({}): pytest collects again", file.string(), e.what());
        kept.reset();
      }
    }
    std::optional<std::string> key;
    std::optional<JobOutcome> out = run_job_and_wait(raw_submit_, job, [&](const ResolvedJob& resolved) {
      key = collection_key(resolved);
      return !(kept && key && *key == kept->key);
    });
    if (!out) {
      collected_ = std::move(kept_items);
      index();
      log::debug("collection: kept from the last run ({} items)", collected_.size());
      return std::nullopt;
    }
    const auto* exited = std::get_if<Exited>(&out->result);
    if (!exited || exited->code != 0) return out;
    collected_ = parse_collection(decode_collection_output(out->effects.stdout_.first), "pytest's collection");
    index();
    if (cacheable && key) {
      try {
        save_collection_record(file, tool, {*key, out->effects.stdout_.first});
      } catch (const std::exception& e) {
        log::warn("could not keep pytest's collection in {}: {}", file.string(), e.what());
      }
    }
    return std::nullopt;
  }

  // The key a collection is kept under: its job's, and what the job cannot say but collection
  // may look at (a parametrization over the CPU count, a skipif on the kernel): the machine
  // that runs it, this one or the cluster's broker.
  std::optional<std::string> collection_key(const ResolvedJob& job) const {
    std::optional<std::string> key = result_cache_key(job);
    if (!key) return std::nullopt;
    struct utsname u {};
    ::uname(&u);
    std::string where = broker_ ? "broker " + *broker_
                                : mael::format("local {} {} {} cpus {}", u.nodename, u.release, u.machine,
                                               std::thread::hardware_concurrency());
    return Digest::of_bytes(*key + "\n" + where).hex();
  }

  void index() {
    files_.clear();
    by_file_.clear();
    by_name_.clear();
    for (const auto& i : collected_) {
      auto [it, fresh] = by_file_.try_emplace(i.file);
      if (fresh) files_.push_back(i.file);
      it->second.push_back(&i);
      by_name_.try_emplace({i.file, i.name}, &i);
    }
  }
  const std::vector<const PytestItem*>& items_of(const std::string& file) const {
    static const std::vector<const PytestItem*> kNone;
    auto it = by_file_.find(file);
    return it == by_file_.end() ? kNone : it->second;
  }
  // Looked up for each case several times (name, fields, listing, job): by a map, not a scan.
  const PytestItem& item(const TestBinary& b, const std::string& name) const {
    auto it = by_name_.find({b.artifact, name});
    if (it == by_name_.end()) throw UserError("no collected test " + name + " in " + b.artifact);
    return *it->second;
  }
  // The pip packages layer of an image named python, installed once per run at most (the
  // first test of that image waits for it; a failure ends the run).
  std::optional<LayerSpec> pip_layer(const ImageRef& image) {
    if (!is_python_image(image.name) || !raw_submit_) return std::nullopt;
    std::shared_future<std::optional<LayerSpec>> f;
    bool mine = false;
    std::promise<std::optional<LayerSpec>> promise;
    {
      std::lock_guard lk(pip_mu_);
      auto it = pip_layers_.find(image.name);
      if (it == pip_layers_.end()) {
        it = pip_layers_.emplace(image.name, promise.get_future().share()).first;
        mine = true;
      }
      f = it->second;
    }
    if (mine) {
      try {
        promise.set_value(pip_packages_layer(image, {root_, root_ / kStateDir / "cache", raw_submit_}));
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    }
    return f.get();
  }
  // Built on first use, once per run (each job without an image shares it).
  const PythonLayers& host_python() {
    // A mutex, not std::call_once: an exception (the probe's error) cannot unwind through
    // pthread_once in a static binary.
    std::lock_guard lk(python_mu_);
    if (!python_) python_ = host_python_layers(probe_python(root_), root_);
    return *python_;
  }

  std::optional<std::string> collect_from_module_;
  std::vector<std::string> collect_args_;
  PytestRunFlags run_flags_;
  fs::path root_;
  std::vector<PytestItem> collected_;
  std::vector<std::string> files_;  // in collection order
  std::map<std::string, std::vector<const PytestItem*>> by_file_;
  std::map<std::pair<std::string, std::string>, const PytestItem*> by_name_;  // (file, name)
  std::mutex python_mu_;
  std::optional<PythonLayers> python_;
  bool fresh_interpreter_ = false;
  bool no_cache_ = false;     // --no-cache: collection runs too
  std::optional<std::string> broker_;
  fs::path state_dir_;
  size_t slots_ = 1;
  std::mutex warm_mu_;
  std::set<std::string> warm_items_;  // the items (FILE::ITEM) that may run in a warm batch
  std::unique_ptr<WarmBatcher> batcher_;
  JobSubmitter raw_submit_;  // the client's, for the pip install job
  std::mutex pip_mu_;
  std::map<std::string, std::shared_future<std::optional<LayerSpec>>> pip_layers_;
};

}  // namespace

int pytest_main(int argc, char** argv) {
  PytestAdapter adapter;
  return run_test_runner(adapter, argc, argv);
}

}  // namespace mael
