#include "gotest/go_test_main.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/config.h"
#include "base/error.h"
#include "base/format.h"
#include "base/subprocess.h"
#include "gotest/go_cases.h"
#include "gotest/go_packages.h"
#include "runner/adapters.h"
#include "runner/driver.h"
#include "runner/output_pump.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStateDir = ".maelstrom-go-test";

void add_go_config(ConfigLoader& loader) {
  loader.add({.name = "vet",
              .type = ConfigType::String,
              .help = "go vet checks run while building: off, all, or a comma-separated list of analyzers "
                      "(default: go test's own selection)",
              .value_name = "VET-OPTIONS"});
  loader.add({.name = "short",
              .type = ConfigType::Bool,
              .help = "tell long-running tests to shorten their run time (-test.short)",
              .default_value = "false"});
  loader.add({.name = "fullpath",
              .type = ConfigType::Bool,
              .help = "show full file names in error messages (-test.fullpath)",
              .default_value = "false"});
  loader.add({.name = "extra-test-binary-args",
              .type = ConfigType::List,
              .help = "arguments for every test binary, after the ones maelstrom-go-test passes (give them after --)",
              .value_name = "ARGS",
              .var_arg = true});
}

// `off`, `all`, or analyzer names separated by commas; which names exist is go's to say.
std::optional<std::string> checked_vet(const Config& c) {
  std::optional<std::string> vet = c.get_optional_string("vet");
  if (!vet) return vet;
  bool ok = !vet->empty() && vet->front() != ',' && vet->back() != ',' && vet->find(",,") == std::string::npos;
  for (char ch : *vet)
    if (!(ch == ',' || ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) ok = false;
  if (!ok)
    throw UsageError("vet value \"" + *vet +
                     "\" is not off, all, or a comma-separated list of analyzer names (`go tool vet help` lists them)");
  return vet;
}

// Whether both files exist and hold the same bytes.
bool same_contents(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  auto size = fs::file_size(a, ec);
  if (ec || size != fs::file_size(b, ec) || ec) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::vector<char> ba(1 << 16), bb(1 << 16);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() || std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0)
      return false;
  }
  return fa.eof() && fb.eof();
}

FilterFields package_fields(const GoPackage& p) {
  return {{{"package_import_path", p.import_path}, {"package_path", p.path}, {"package_name", p.name}}, {}};
}

// One `go test -c` per package, at most `parallel` at once, in package order; each binary is
// reported as soon as it is built. Output of each build is shown when that build ends, whole,
// so that two builds' lines do not interleave.
class GoBuild {
 public:
  GoBuild(const std::vector<GoPackage>& packages, const std::vector<size_t>& selected,
          const std::optional<std::string>& vet, const fs::path& binaries_dir, BuildSink& sink)
      : packages_(packages), vet_(vet), binaries_dir_(binaries_dir), sink_(sink) {
    for (size_t i : selected)
      if (packages[i].has_tests) todo_.push_back(i);
    // Packages whose tests ran longest last time first: their tests start early instead of
    // keeping one slot busy at the end while the other idles.
    std::stable_sort(todo_.begin(), todo_.end(), [&](size_t a, size_t b) {
      return sink.longest_known_test(packages[a].import_path) > sink.longest_known_test(packages[b].import_path);
    });
  }

  BuildResult run() {
    size_t parallel = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
    std::vector<std::thread> workers;
    for (size_t i = 0; i < std::min(parallel, todo_.size()); ++i) workers.emplace_back([this] { work(); });
    for (auto& t : workers) t.join();
    if (error_) std::rethrow_exception(error_);
    BuildResult r;
    r.output = output_;
    r.cut_short = cut_short_;
    if (failure_) {
      r.exit_code = failure_->code;
      r.failure = mael::format("go test -c exited with code {} for package {}", failure_->code,
                               packages_[failure_->package].import_path);
    }
    return r;
  }

 private:
  // Whether building should stop: a build failed, something threw, or the run was stopped.
  // Then every build still running is killed. Under mu_.
  bool ending() {
    if (!failure_ && !error_ && !sink_.stop_requested()) return false;
    if (!failure_ && !error_) cut_short_ = true;
    for (ChildProcess* c : running_) c->kill();
    return true;
  }

  void work() {
    for (;;) {
      size_t index;
      {
        std::lock_guard lk(mu_);
        if (next_ >= todo_.size() || ending()) return;
        index = todo_[next_++];
      }
      try {
        build(packages_[index], index);
      } catch (...) {
        std::lock_guard lk(mu_);
        if (!error_) error_ = std::current_exception();
        ending();
        return;
      }
    }
  }

  void build(const GoPackage& p, size_t index) {
    fs::path out = go_test_binary_path(binaries_dir_, p);
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    if (ec) throw UserError("cannot create " + out.parent_path().string() + ": " + ec.message());
    // Built into NAME.test.build, which stays (go relinks only when that file is out of date, and
    // rewrites it either way), and copied to NAME.test only when the bytes differ: an unchanged
    // NAME.test keeps its layer and its test list from the last run.
    fs::path fresh = out;
    fresh += ".build";
    std::vector<std::string> argv = {"go", "test", "-c", "-o", fresh.string()};
    if (vet_) argv.push_back("--vet=" + *vet_);
    std::string stdout_text, stderr_text;
    int code = 0;
    {
      ChildProcess go(argv, p.dir);
      {
        std::lock_guard lk(mu_);
        running_.insert(&go);
        if (ending()) go.kill();  // an ending that came while this one started
      }
      struct Unregister {
        GoBuild& b;
        ChildProcess* c;
        ~Unregister() {
          std::lock_guard lk(b.mu_);
          b.running_.erase(c);
        }
      } unregister{*this, &go};
      OutputPump err(go.stderr_fd(), nullptr);
      stdout_text = read_all(go.stdout_fd());
      code = go.wait();
      err.join();
      stderr_text = err.text();
    }
    if (code != 0 && stderr_text.find("no Go files") != std::string::npos) return;  // nothing to test
    if (code != 0 && stderr_text.find("for flag -vet") != std::string::npos) {
      std::string line = stderr_text.substr(0, stderr_text.find('\n'));
      throw UsageError("vet value \"" + vet_.value_or("") + "\" refused by go: " + line +
                       " (`go tool vet help` lists the analyzers)");
    }
    std::lock_guard lk(mu_);
    bool killed_by_us = code != 0 && (failure_ || error_ || cut_short_);
    if (killed_by_us) return;  // its output is only the kill's
    if (!stderr_text.empty()) {
      sink_.output(stderr_text);
      output_ += stderr_text;
    }
    if (code != 0) {
      // The first failing package in package order is the one reported, as Maelstrom does.
      if (!failure_ || index < failure_->package) failure_ = Failure{index, code};
      ending();
      return;
    }
    if (failure_ || error_) return;  // no new tests once the build has failed
    if (stdout_text.find("[no test files]") != std::string::npos || !fs::exists(fresh)) return;
    if (!same_contents(out, fresh)) {
      fs::path tmp = out;
      tmp += ".tmp";
      // Not fs::copy_file: its descriptor, inherited by a `go test -c` started meanwhile, would
      // keep the binary from being listed (ETXTBSY) until that build ends.
      try {
        copy_file_contents(fresh.string(), tmp.string(), 0755);
      } catch (const UserError& e) {
        throw UserError("cannot copy " + fresh.string() + " to " + out.string() + ": " + e.what());
      }
      fs::rename(tmp, out, ec);
      if (ec) throw UserError("cannot copy " + fresh.string() + " to " + out.string() + ": " + ec.message());
    }
    TestBinary b;
    b.package = index;
    b.package_key = p.import_path;
    b.artifact = "test";  // Maelstrom's listing key for a Go package's one test binary
    b.executable = out;
    b.fields = package_fields(p);
    sink_.ready(std::move(b));  // under mu_: listing with --list-tests happens here, one at a time
  }

  struct Failure {
    size_t package;
    int code;
  };
  const std::vector<GoPackage>& packages_;
  const std::optional<std::string>& vet_;
  fs::path binaries_dir_;
  BuildSink& sink_;
  std::vector<size_t> todo_;
  std::mutex mu_;
  size_t next_ = 0;
  std::set<ChildProcess*> running_;
  std::optional<Failure> failure_;
  bool cut_short_ = false;
  std::string output_;
  std::exception_ptr error_;
};

// Go's side of the test runner: the module around the current directory, its packages from
// `go list`, one test binary per package from `go test -c`, its cases from -test.list, and one
// job per top-level case.
class GoTestAdapter final : public TestAdapter {
 public:
  const AdapterInfo& info() const override { return go_adapter(); }
  std::string description() const override {
    return "Run Go tests, each in its own container (a drop-in for `go test ./...`).";
  }
  void add_config(ConfigLoader& loader) override { add_go_config(loader); }
  void configure(const Config& config) override {
    vet_ = checked_vet(config);
    flags_.short_mode = config.get_bool("short");
    flags_.fullpath = config.get_bool("fullpath");
    flags_.extra = config.get_list("extra-test-binary-args");
  }
  std::string default_cache_description() const override { return ".maelstrom-go-test/cache in the module"; }

  fs::path project_root() override { return find_go_module_root(fs::current_path()); }

  Project discover(bool, bool) override {
    root_ = find_go_module_root(fs::current_path());
    packages_ = list_go_packages(root_);
    Project p;
    p.root = root_;
    fs::path hidden = root_ / kStateDir;
    p.state_dir = hidden / "state";
    p.default_cache = hidden / "cache";
    p.outputs = {hidden};
    for (const auto& pkg : packages_) {
      p.packages.push_back({pkg.import_path, package_fields(pkg)});
      p.listing_keys[pkg.import_path].insert("test");
    }
    return p;
  }

  BuildResult build(const Project&, const std::vector<size_t>& selected, bool, BuildSink& sink) override {
    GoBuild build(packages_, selected, vet_, root_ / kStateDir / "cache" / "test-binaries", sink);
    return build.run();
  }

  ListedCases list_cases(const Project&, const TestBinary& b) override {
    return list_go_test_binary(b.executable, packages_.at(b.package).dir);
  }
  std::string display_name(const TestBinary& b, const std::string& case_name) override {
    return b.package_key + " " + case_name;
  }
  void make_job(const TestBinary& b, const TestMetadata& md, TestBinaryLayers& layers, TestCase& tc) override {
    run_test_binary(b, md, layers, tc);
    tc.spec.arguments = go_test_arguments(tc.case_name, flags_);
  }
  OutcomeHooks outcome_hooks(const TestCase& tc) override {
    OutcomeHooks h;
    std::string name = tc.case_name;
    h.clean_stdout = [name](std::vector<std::string> lines) { return trim_go_test_output(name, std::move(lines)); };
    h.skipped = [name](std::string_view out) -> std::optional<std::string> {
      if (!go_test_skipped(name, out)) return std::nullopt;
      return "";
    };
    return h;
  }

 private:
  std::optional<std::string> vet_;
  GoTestFlags flags_;
  fs::path root_;
  std::vector<GoPackage> packages_;
};

}  // namespace

int go_test_main(int argc, char** argv) {
  GoTestAdapter adapter;
  return run_test_runner(adapter, argc, argv);
}

}  // namespace mael
