#include "gotest/go_test_main.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/error.h"
#include "base/file_signature.h"
#include "base/format.h"
#include "gotest/go_build.h"
#include "gotest/go_cases.h"
#include "gotest/go_inputs.h"
#include "gotest/go_packages.h"
#include "runner/adapters.h"
#include "runner/driver.h"

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
    // Without go when nothing it would look at changed since its last check (go_inputs.h).
    inputs_ = scan_go_inputs(root_, environment_map(), vet_ ? "=" + *vet_ : "unset");
    last_check_ = load_go_last_check(last_check_file(), inputs_, kRacyFileChangeNs);
    if (last_check_) {
      try {
        packages_ = parse_go_list(last_check_->go_list, root_, last_check_file().string());
        go_list_ = last_check_->go_list;
      } catch (const UserError&) {
        last_check_.reset();
      }
    }
    if (!last_check_) {
      go_list_ = run_go_list(root_);
      packages_ = parse_go_list(go_list_, root_);
    }
    Project p;
    p.root = root_;
    fs::path hidden = root_ / kStateDir;
    p.state_dir = hidden / "state";
    p.default_cache = hidden / "cache";
    p.outputs = {hidden};
    for (const auto& pkg : packages_) {
      p.packages.push_back({pkg.import_path, go_package_fields(pkg)});
      p.listing_keys[pkg.import_path].insert("test");
    }
    return p;
  }

  BuildResult build(const Project&, const std::vector<size_t>& selected, bool, BuildSink& sink) override {
    fs::path cache = root_ / kStateDir / "cache";
    fs::path binaries = cache / "test-binaries";
    std::vector<size_t> order = go_build_order(packages_, selected, sink);
    if (last_check_ && std::all_of(order.begin(), order.end(), [&](size_t i) {
          auto it = last_check_->binaries.find(packages_[i].import_path);
          return it != last_check_->binaries.end() &&
                 file_signature(go_test_binary_path(binaries, packages_[i])) == it->second;
        })) {
      // go checked these binaries against inputs that have not changed since.
      for (size_t i : order) {
        if (sink.stop_requested()) return BuildResult{0, "", "", true, std::nullopt};
        sink.ready(go_test_binary(packages_[i], i, go_test_binary_path(binaries, packages_[i])));
      }
      return BuildResult{};
    }
    GoBuildOptions options{root_, binaries, cache / "go-test-c", vet_};
    std::map<std::string, fs::path> built;
    BuildResult r = build_go_test_binaries(packages_, selected, options, sink, &built);
    if (r.exit_code == 0 && !r.cut_short) save_go_last_check(last_check_file(), inputs_, go_list_, built);
    return r;
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
  fs::path last_check_file() const { return root_ / kStateDir / "state" / "go-build.json"; }

  std::optional<std::string> vet_;
  GoInputs inputs_;
  std::optional<GoLastCheck> last_check_;
  std::string go_list_;
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
