#include "gotest/go_inputs.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "base/atomic_file.h"
#include "base/digest.h"
#include "base/file_signature.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  for (const std::string& e : env)
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      return e.substr(name.size() + 1);
  return "";
}

// What go reads from the environment (its own variables, cgo's, the tools it finds on PATH) and
// where its settings file is.
bool go_reads(const std::string& entry) {
  std::string name = entry.substr(0, entry.find('='));
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
    if (::access(candidate.c_str(), X_OK) == 0) {
      std::error_code ec;
      fs::path real = fs::canonical(candidate, ec);
      return ec ? candidate : real;
    }
  }
  return {};
}

// go's settings file (`go env -w` writes it): $GOENV, else the user's config directory's go/env.
fs::path go_env_file(const std::vector<std::string>& env) {
  if (std::string f = env_value(env, "GOENV"); !f.empty()) return f;
  if (std::string x = env_value(env, "XDG_CONFIG_HOME"); !x.empty()) return fs::path(x) / "go" / "env";
  return fs::path(env_value(env, "HOME")) / ".config" / "go" / "env";
}

// A go.work in the module's directory or above, unless GOWORK turns workspaces off.
bool in_workspace(const fs::path& module_root, const std::vector<std::string>& env) {
  std::string gowork = env_value(env, "GOWORK");
  if (gowork == "off") return false;
  if (!gowork.empty()) return true;
  std::error_code ec;
  for (fs::path d = module_root;; d = d.parent_path()) {
    if (fs::exists(d / "go.work", ec)) return true;
    if (d == d.parent_path()) return false;
  }
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
    if (target.rfind("./", 0) == 0 || target.rfind("../", 0) == 0 || target.rfind("/", 0) == 0 || target == "." ||
        target == "..")
      return true;
  }
  return false;
}

GoInputs scan_go_inputs(const fs::path& module_root, const std::vector<std::string>& env, const std::string& vet) {
  GoInputs inputs;
  std::ifstream mod_in(module_root / "go.mod");
  std::stringstream mod;
  mod << mod_in.rdbuf();
  if (!mod_in || go_mod_replaces_with_directory(mod.str()) || in_workspace(module_root, env)) return inputs;

  Sha256 h;
  auto add = [&h](const std::string& s) {
    h.update(s);
    h.update("\n", 1);
  };
  add("maelstrom-go-test inputs 1");
  add("vet=" + vet);
  std::vector<std::string> vars;
  for (const std::string& e : env)
    if (go_reads(e)) vars.push_back(e);
  std::sort(vars.begin(), vars.end());
  for (const std::string& v : vars) add("env " + v);
  // The tools: go, and cgo's compilers and pkg-config (go itself tells a changed C toolchain
  // by the compiler's identity, not by its headers).
  std::string path_var = env_value(env, "PATH");
  auto first_word = [](std::string v, const char* fallback) {
    v = v.substr(0, v.find(' '));
    return v.empty() ? std::string(fallback) : v;
  };
  for (const std::string& tool : {std::string("go"), first_word(env_value(env, "CC"), "gcc"),
                                  first_word(env_value(env, "CXX"), "g++"), std::string("pkg-config")}) {
    fs::path p = program_on_path(tool, path_var);
    add("tool " + tool + " " + p.string() + " " + (p.empty() ? "-" : file_signature(p)));
  }
  int64_t changed = 0;
  add("goenv " + file_signature(go_env_file(env)));

  int64_t newest = 0;
  auto note = [&](const fs::path& p, const std::string& rel) {
    changed = 0;
    add(rel + " " + file_signature(p, &changed));
    newest = std::max(newest, changed);
  };
  std::error_code ec;
  std::vector<std::pair<std::string, fs::path>> entries;  // files; directories by name only
  std::vector<std::string> dirs;
  fs::recursive_directory_iterator it(module_root, fs::directory_options::none, ec), end;
  if (ec) return GoInputs{};
  for (; it != end; it.increment(ec)) {
    if (ec) return GoInputs{};  // a directory that cannot be read: go decides
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    bool dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (dir && (name == ".maelstrom-go-test" || name == ".git" || fs::exists(p / "go.mod", ec))) {
      it.disable_recursion_pending();  // our own files, version control, nested modules
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
  return inputs;
}

std::optional<GoLastCheck> load_go_last_check(const fs::path& file, const GoInputs& inputs, int64_t racy_ns) {
  if (inputs.fingerprint.empty()) return std::nullopt;
  std::ifstream in(file);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  try {
    if (!j.is_object() || j.value("version", 0) != 1) return std::nullopt;
    if (j.at("fingerprint").get<std::string>() != inputs.fingerprint) return std::nullopt;
    if (inputs.newest_change_ns > j.at("written_ns").get<int64_t>() - racy_ns) return std::nullopt;
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
    nlohmann::json j = {{"version", 1},
                        {"fingerprint", inputs.fingerprint},
                        {"written_ns", wall_clock_ns()},
                        {"go_list", go_list},
                        {"binaries", signatures}};
    fs::create_directories(file.parent_path());
    write_file_atomically(file, j.dump());
  } catch (const std::exception&) {
    // The next run runs go.
  }
}

}  // namespace mael
