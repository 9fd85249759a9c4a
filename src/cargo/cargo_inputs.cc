#include "cargo/cargo_inputs.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "base/digest.h"
#include "base/file_signature.h"
#include "base/program_path.h"
#include "base/version.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

std::string env_value(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// Variables a shell sets by itself from one command to the next, and our own settings (which
// cargo does not read): the rest of the environment is part of the fingerprint.
bool volatile_variable(const std::string& name) {
  return name == "_" || name == "OLDPWD" || name == "PWD" || name == "SHLVL" ||
         name.rfind("CARGO_MAELSTROM_", 0) == 0 || name.rfind("MAELSTROM_", 0) == 0;
}

bool inside(const fs::path& p, const fs::path& root) {
  std::string a = p.lexically_normal().generic_string();
  std::string r = root.lexically_normal().generic_string();
  if (!r.empty() && r.back() == '/') r.pop_back();
  return a == r || a.rfind(r + "/", 0) == 0;
}

fs::path canonical_or_same(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  return ec ? p : c;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return {};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every directory from `dir` up to the root.
std::vector<fs::path> ancestors(fs::path dir) {
  std::vector<fs::path> out;
  dir = dir.lexically_normal();
  while (true) {
    out.push_back(dir);
    if (dir == dir.root_path() || !dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  return out;
}

}  // namespace

bool local_packages_inside(const CargoWorkspace& ws, const std::string& cargo_lock) {
  toml::table lock;
  try {
    lock = toml::parse(std::string_view(cargo_lock), std::string_view("Cargo.lock"));
  } catch (const toml::parse_error&) {
    return false;
  }
  std::set<std::string> allowed;
  for (const auto& p : ws.packages) {
    allowed.insert(p.name);
    for (const auto& [name, dir] : p.path_dependencies)
      if (inside(dir, ws.workspace_root)) allowed.insert(name);
  }
  const toml::array* packages = lock["package"].as_array();
  if (!packages) return false;
  for (const auto& node : *packages) {
    const toml::table* p = node.as_table();
    if (!p) return false;
    if (p->contains("source")) continue;  // from a registry or git: pinned by its version or commit
    std::optional<std::string> name = (*p)["name"].value<std::string>();
    if (!name || !allowed.count(*name)) return false;
  }
  return true;
}

std::string cargo_output_signature(const fs::path& build_dir) {
  std::error_code ec;
  std::vector<std::string> files;
  for (fs::directory_iterator it(build_dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path().filename().string());
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) out += f + " " + file_signature(build_dir / f) + "\n";
  return out;
}

bool build_scripts_watch_outside(const std::vector<fs::path>& out_dirs, const fs::path& workspace_root) {
  for (const fs::path& out_dir : out_dirs) {
    std::istringstream lines(read_text(out_dir.parent_path() / "output"));
    std::string line;
    while (std::getline(lines, line))
      for (const char* prefix : {"cargo:rerun-if-changed=", "cargo::rerun-if-changed="}) {
        if (line.rfind(prefix, 0) != 0) continue;
        fs::path watched = line.substr(std::char_traits<char>::length(prefix));
        if (watched.is_absolute() && !inside(watched, workspace_root)) return true;
      }
  }
  return false;
}

CargoInputs scan_cargo_inputs(const CargoWorkspace& ws, const fs::path& cwd, const std::vector<std::string>& cargo_args,
                              const std::map<std::string, std::string>& env) {
  CargoInputs inputs;
  // Changes are trusted only if older than this by the racy margin (see last_build.h).
  int64_t scanned = wall_clock_ns();
  for (const auto& a : cargo_args)
    if (a.rfind("--target=", 0) == 0) return inputs;  // build scripts and the tests build elsewhere
  std::string lock = read_text(ws.workspace_root / "Cargo.lock");
  if (lock.empty() || !local_packages_inside(ws, lock)) return inputs;

  Sha256 h;
  auto add = [&h](const std::string& s) {
    h.update(s);
    h.update("\n", 1);
  };
  add("cargo-maelstrom inputs 1 " + std::string(version()));
  for (size_t i = 1; i < cargo_args.size(); ++i)
    if (cargo_args[i].rfind("--color=", 0) != 0) add("arg " + cargo_args[i]);
  const fs::path root = canonical_or_same(ws.workspace_root);
  const fs::path here = canonical_or_same(cwd);
  add("root " + root.string());
  add("cwd " + here.string());
  for (const auto& [name, value] : env)  // in name order
    if (!volatile_variable(name)) add("env " + name + "=" + value);
  int64_t newest = 0;
  auto note = [&](const fs::path& p, const std::string& what) {
    int64_t changed = 0;
    add(what + " " + file_signature(p, &changed));
    newest = std::max(newest, changed);
  };
  // The toolchain: the cargo that builds, the rustc it finds, and rustup's choice among its
  // toolchains (its settings, and each toolchain's binaries, which `rustup update` replaces).
  std::string path_var = env_value(env, "PATH");
  for (const std::string& tool : {cargo_args.empty() ? std::string("cargo") : cargo_args[0], std::string("rustc")}) {
    fs::path p = program_on_path(tool, path_var);
    add("tool " + tool + " " + p.string() + " " + (p.empty() ? "-" : file_signature(p)));
  }
  std::string home = env_value(env, "HOME");
  fs::path rustup_home = env_value(env, "RUSTUP_HOME");
  if (rustup_home.empty() && !home.empty()) rustup_home = fs::path(home) / ".rustup";
  fs::path cargo_home = env_value(env, "CARGO_HOME");
  if (cargo_home.empty() && !home.empty()) cargo_home = fs::path(home) / ".cargo";
  if (!rustup_home.empty()) {
    note(rustup_home / "settings.toml", "rustup settings");
    std::vector<fs::path> toolchains;
    std::error_code ec;
    for (fs::directory_iterator it(rustup_home / "toolchains", ec), end; !ec && it != end; it.increment(ec))
      toolchains.push_back(it->path());
    std::sort(toolchains.begin(), toolchains.end());
    for (const auto& t : toolchains) {
      note(t / "bin" / "cargo", "toolchain cargo " + t.filename().string());
      note(t / "bin" / "rustc", "toolchain rustc " + t.filename().string());
    }
  }
  if (!cargo_home.empty()) {
    note(cargo_home / "config", "cargo home config");
    note(cargo_home / "config.toml", "cargo home config.toml");
  }
  // Config and toolchain files cargo and rustup look for from the current directory and from
  // the workspace upwards, and where version control says the checkout is (build scripts that
  // embed the commit watch .git/HEAD).
  std::set<fs::path> dirs;
  for (const fs::path& start : {here, root})
    for (const fs::path& d : ancestors(start)) dirs.insert(d);
  for (const fs::path& d : dirs) {
    for (const char* f : {".cargo/config", ".cargo/config.toml", "rust-toolchain", "rust-toolchain.toml"})
      note(d / f, d.string() + "/" + f);
    fs::path git = d / ".git";
    note(git / "HEAD", d.string() + "/.git/HEAD");
    std::string head = read_text(git / "HEAD");
    if (head.rfind("ref: ", 0) == 0) {
      std::string ref = head.substr(5, head.find('\n') - 5);
      if (ref.find("..") == std::string::npos) note(git / ref, d.string() + "/.git/" + ref);
      note(git / "packed-refs", d.string() + "/.git/packed-refs");
    }
  }

  // The workspace's tree: directories by name (their times change as builds write beside
  // them), files by signature.
  const fs::path target = canonical_or_same(ws.target_directory);
  std::vector<std::string> tree_dirs;
  std::vector<std::pair<std::string, fs::path>> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) return CargoInputs{};
  for (; it != end; it.increment(ec)) {
    if (ec) return CargoInputs{};  // a directory that cannot be read: cargo decides
    const fs::path& p = it->path();
    bool dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (dir && (p.filename() == ".git" || p == target || fs::exists(p / "CACHEDIR.TAG", ec))) {
      it.disable_recursion_pending();
      continue;
    }
    std::string rel = p.lexically_relative(root).generic_string();
    if (dir)
      tree_dirs.push_back(rel);
    else
      files.emplace_back(rel, p);
  }
  std::sort(tree_dirs.begin(), tree_dirs.end());  // the walk's order is the file system's
  for (const auto& d : tree_dirs) add(d + "/");
  std::sort(files.begin(), files.end());
  for (const auto& [rel, p] : files) note(p, rel);
  inputs.fingerprint = h.finish().hex();
  inputs.newest_change_ns = newest;
  inputs.scanned_ns = scanned;
  return inputs;
}

}  // namespace mael
