#include "gotest/go_inputs.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "base/atomic_file.h"
#include "base/digest.h"
#include "base/file_signature.h"
#include "base/subprocess.h"
#include "base/version.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

std::string env_value(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// What go reads from the environment: its own variables, cgo's, the tools it finds on PATH and
// where its settings file is.
bool go_reads(const std::string& name) {
  static const char* const kExact[] = {"CC", "CXX", "AR", "PKG_CONFIG", "PATH", "HOME", "XDG_CONFIG_HOME"};
  if (name.rfind("GO", 0) == 0 || name.rfind("CGO_", 0) == 0) return true;
  return std::find(std::begin(kExact), std::end(kExact), name) != std::end(kExact);
}

// The program that would run: `name` if it has a slash, else the first executable `name` on
// PATH; symlinks resolved. Empty when there is none.
fs::path program_on_path(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    fs::path real = fs::canonical(name, ec);
    return ec ? fs::path(name) : real;
  }
  std::stringstream dirs(path_var);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    fs::path candidate = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      fs::path real = fs::canonical(candidate, ec);
      return ec ? candidate : real;
    }
  }
  return {};
}

// go's own idea of the settings that decide a build, wherever they come from (the environment,
// go's settings file, the defaults, a go.work found above the module): `go env -json`, a few
// milliseconds. Empty when go cannot tell.
nlohmann::json go_settings(const fs::path& module_root) {
  try {
    ProcessResult r = run_process({"go", "env", "-json", "GOWORK", "GOFLAGS", "GOVERSION", "GOROOT", "GOTOOLCHAIN",
                                   "CC", "CXX", "CGO_ENABLED", "GOOS", "GOARCH", "GOEXPERIMENT", "GOENV",
                                   "GOMODCACHE"},
                                  RunOptions{.cwd = module_root, .timeout = std::chrono::seconds(30)});
    if (!r.ok()) return nullptr;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    return j.is_object() ? j : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::string setting(const nlohmann::json& settings, const char* name) {
  auto it = settings.find(name);
  return it != settings.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// GOFLAGS that name files the build reads (an overlay, another go.mod, a profile) or a program
// that runs the tools: their contents are not in the fingerprint.
bool flags_name_files(const std::string& goflags) {
  for (const char* flag : {"-overlay", "-modfile", "-pgo", "-toolexec"})
    for (size_t at = goflags.find(flag); at != std::string::npos; at = goflags.find(flag, at + 1)) {
      bool starts = at == 0 || goflags[at - 1] == ' ' || goflags[at - 1] == '-';
      if (!starts) continue;
      std::string rest = goflags.substr(at + std::strlen(flag));
      if (std::string(flag) == "-pgo" && (rest.rfind("=off", 0) == 0 || rest.rfind("=auto", 0) == 0)) continue;
      return true;
    }
  return false;
}

}  // namespace

bool go_mod_replaces_with_directory(const std::string& go_mod) {
  std::istringstream in(go_mod);
  std::string line;
  while (std::getline(in, line)) {
    size_t comment = line.find("//");
    if (comment != std::string::npos) line.resize(comment);
    size_t arrow = line.find("=>");
    if (arrow == std::string::npos) continue;
    size_t start = line.find_first_not_of(" \t", arrow + 2);
    if (start == std::string::npos) continue;
    std::string target = line.substr(start);
    if (!target.empty() && (target[0] == '"' || target[0] == '`')) target.erase(0, 1);  // a quoted path
    if (target.rfind("./", 0) == 0 || target.rfind("../", 0) == 0 || target.rfind("/", 0) == 0 || target == "." ||
        target == "..")
      return true;
  }
  return false;
}

GoInputs scan_go_inputs(const fs::path& module_root, const std::map<std::string, std::string>& env,
                        const std::string& vet) {
  GoInputs inputs;
  // Changes are trusted only if older than this by the racy margin (see load_go_last_check).
  int64_t scanned = wall_clock_ns();
  std::ifstream mod_in(module_root / "go.mod");
  std::stringstream mod;
  mod << mod_in.rdbuf();
  if (!mod_in || go_mod_replaces_with_directory(mod.str())) return inputs;
  nlohmann::json settings = go_settings(module_root);
  if (settings.is_null()) return inputs;
  std::string gowork = setting(settings, "GOWORK");
  if ((!gowork.empty() && gowork != "off") || flags_name_files(setting(settings, "GOFLAGS"))) return inputs;

  Sha256 h;
  auto add = [&h](const std::string& s) {
    h.update(s);
    h.update("\n", 1);
  };
  add("maelstrom-go-test inputs 2 " + std::string(version()));
  std::error_code ec;
  fs::path root = fs::canonical(module_root, ec);
  add("root " + (ec ? module_root : root).string());  // go's action ids hold the directories
  add("vet=" + vet);
  add("go env " + settings.dump());
  for (const auto& [name, value] : env)  // in name order
    if (go_reads(name)) add("env " + name + "=" + value);
  int64_t newest = 0;
  int64_t changed = 0;
  auto note = [&](const fs::path& p, const std::string& what) {
    changed = 0;
    add(what + " " + file_signature(p, &changed));
    newest = std::max(newest, changed);
  };
  // The tools: go (and the toolchain it runs: GOROOT's VERSION), cgo's compilers and
  // pkg-config (go itself tells a changed C toolchain by the compiler's identity, not by its
  // headers), and go's settings file.
  std::string path_var = env_value(env, "PATH");
  auto first_word = [](std::string v, const char* fallback) {
    v = v.substr(0, v.find(' '));
    return v.empty() ? std::string(fallback) : v;
  };
  for (const std::string& tool : {std::string("go"), first_word(setting(settings, "CC"), "gcc"),
                                  first_word(setting(settings, "CXX"), "g++"), std::string("pkg-config")}) {
    fs::path p = program_on_path(tool, path_var);
    add("tool " + tool + " " + p.string() + " " + (p.empty() ? "-" : file_signature(p)));
  }
  note(fs::path(setting(settings, "GOROOT")) / "VERSION", "goroot");
  if (std::string f = setting(settings, "GOENV"); !f.empty() && f != "off") note(f, "goenv");

  std::vector<std::pair<std::string, fs::path>> entries;  // files; directories by name only
  std::vector<std::string> dirs;
  fs::recursive_directory_iterator it(module_root, fs::directory_options::none, ec), end;
  if (ec) return GoInputs{};
  const fs::path vendor = module_root / "vendor";
  for (; it != end; it.increment(ec)) {
    if (ec) return GoInputs{};  // a directory that cannot be read: go decides
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    bool dir = it->is_directory(ec) && !it->is_symlink(ec);
    // Our own files, version control, nested modules (not vendored ones: before go 1.17,
    // `go mod vendor` keeps each dependency's go.mod).
    bool vendored = p.native().rfind(vendor.native() + "/", 0) == 0;
    if (dir && (name == ".maelstrom-go-test" || name == ".git" || (!vendored && fs::exists(p / "go.mod", ec)))) {
      it.disable_recursion_pending();
      continue;
    }
    std::string rel = p.lexically_relative(module_root).generic_string();
    if (dir)
      dirs.push_back(rel);
    else
      entries.emplace_back(rel, p);
  }
  // A directory's own times change as we write our state; its entries tell what it holds.
  std::sort(dirs.begin(), dirs.end());  // the walk's order is the file system's
  for (const std::string& d : dirs) add(d + "/");
  std::sort(entries.begin(), entries.end());
  for (const auto& [rel, p] : entries) note(p, rel);
  inputs.fingerprint = h.finish().hex();
  inputs.newest_change_ns = newest;
  inputs.scanned_ns = scanned;
  return inputs;
}

std::optional<GoLastCheck> load_go_last_check(const fs::path& file, const GoInputs& inputs, int64_t racy_ns) {
  if (inputs.fingerprint.empty()) return std::nullopt;
  std::ifstream in(file);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  try {
    if (!j.is_object() || j.value("version", 0) != 2) return std::nullopt;
    if (j.at("fingerprint").get<std::string>() != inputs.fingerprint) return std::nullopt;
    // Every file the fingerprint holds must have been as it is for the racy margin when the
    // fingerprint was taken: a file changed twice within one timestamp tick, the second time
    // while go built the first version, keeps its signature.
    if (inputs.newest_change_ns > j.at("scanned_ns").get<int64_t>() - racy_ns) return std::nullopt;
    GoLastCheck last;
    last.go_list = j.at("go_list").get<std::string>();
    last.binaries = j.at("binaries").get<std::map<std::string, std::string>>();
    return last;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void save_go_last_check(const fs::path& file, const GoInputs& inputs, const std::string& go_list,
                        const std::map<std::string, fs::path>& binaries) {
  std::error_code ec;
  if (inputs.fingerprint.empty()) {
    fs::remove(file, ec);
    return;
  }
  try {
    std::map<std::string, std::string> signatures;
    for (const auto& [import_path, binary] : binaries)
      if (std::string s = file_signature(binary); s != "-") signatures[import_path] = s;
    nlohmann::json j = {{"version", 2},
                        {"fingerprint", inputs.fingerprint},
                        {"scanned_ns", inputs.scanned_ns},
                        {"go_list", go_list},
                        {"binaries", signatures}};
    fs::create_directories(file.parent_path());
    write_file_atomically(file, j.dump());
  } catch (const std::exception&) {
    // The next run runs go.
  }
}

}  // namespace mael
