#include "gotest/go_packages.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "base/error.h"
#include "base/subprocess.h"

namespace mael {

namespace fs = std::filesystem;

fs::path find_go_module_root(const fs::path& from) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::absolute(from), ec);
  if (ec) dir = fs::absolute(from);
  for (fs::path d = dir;; d = d.parent_path()) {
    if (fs::is_regular_file(d / "go.mod", ec)) return d;
    if (d == d.parent_path()) break;
  }
  throw UserError("no go.mod in " + dir.string() +
                  " or any directory above it: run maelstrom-go-test inside a Go module (`go mod init` makes one)");
}

namespace {

bool has_files(const nlohmann::json& pkg, const char* key) {
  auto it = pkg.find(key);
  return it != pkg.end() && it->is_array() && !it->empty();
}

std::string string_field(const nlohmann::json& pkg, const char* key) {
  auto it = pkg.find(key);
  return it != pkg.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::vector<GoPackage> parse_go_list(std::string_view json_stream, const fs::path& module_root,
                                     const std::string& source) {
  std::vector<GoPackage> out;
  std::istringstream in{std::string(json_stream)};
  for (;;) {
    in >> std::ws;
    if (in.eof()) break;
    nlohmann::json pkg;
    try {
      in >> pkg;
    } catch (const nlohmann::json::exception& e) {
      throw UserError(source + ": not the JSON go list prints: " + e.what());
    }
    if (!pkg.is_object()) throw UserError(source + ": not the JSON go list prints: a value that is not an object");
    GoPackage p;
    p.import_path = string_field(pkg, "ImportPath");
    p.dir = string_field(pkg, "Dir");
    p.name = string_field(pkg, "Name");
    if (p.import_path.empty() || p.dir.empty())
      throw UserError(source + ": a package without ImportPath or Dir");
    p.has_tests = has_files(pkg, "TestGoFiles") || has_files(pkg, "XTestGoFiles");
    // Relative to go's own idea of the module root: go spells both through the symlinks of the
    // user's $PWD, which `module_root` (symlinks resolved) may not.
    std::string go_root = string_field(pkg, "Root");
    std::string rel = p.dir.lexically_relative(go_root.empty() ? module_root : fs::path(go_root)).generic_string();
    if (rel.empty() || rel.rfind("..", 0) == 0)
      throw UserError(source + ": package " + p.import_path + " in " + p.dir.string() + " is outside the module root " +
                      (go_root.empty() ? module_root.string() : go_root));
    p.path = rel == "." ? "" : rel;
    out.push_back(std::move(p));
  }
  return out;
}

std::string run_go_list(const fs::path& module_root) {
  ProcessResult r = run_process({"go", "list", "-json", "./..."}, module_root);
  if (!r.ok()) {
    std::string why = r.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    for (char& c : why)
      if (c == '\n') c = ' ';
    throw UserError("go list failed in " + module_root.string() + " (" +
                    (r.signal ? "signal " + std::to_string(r.signal) : "exit code " + std::to_string(r.exit_code)) +
                    "): " + why);
  }
  return r.out;
}

namespace {

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "<last element of the import path>.test", or the element before it when the last one is a
// version element by `is_version`.
std::string binary_name(const std::string& import_path, bool (*is_version)(std::string_view)) {
  size_t slash = import_path.rfind('/');
  std::string_view last = std::string_view(import_path).substr(slash == std::string::npos ? 0 : slash + 1);
  if (slash != std::string::npos && is_version(last)) {
    std::string_view before = std::string_view(import_path).substr(0, slash);
    size_t s2 = before.rfind('/');
    last = before.substr(s2 == std::string_view::npos ? 0 : s2 + 1);
  }
  return std::string(last) + ".test";
}

}  // namespace

std::string go_test_binary_name(const GoPackage& p) {
  // Maelstrom's ^v[0-9]*$ ("v" alone too).
  return binary_name(p.import_path, [](std::string_view e) { return !e.empty() && e[0] == 'v' && all_digits(e.substr(1)); });
}

std::string go_built_binary_name(const GoPackage& p) {
  // go's isVersionElement: "v" and digits, at least 2 characters, not "v0...", not "v1".
  return binary_name(p.import_path, [](std::string_view e) {
    return e.size() >= 2 && e[0] == 'v' && e[1] != '0' && e != "v1" && all_digits(e.substr(1));
  });
}

fs::path go_test_binary_path(const fs::path& binaries_dir, const GoPackage& p) {
  return binaries_dir / p.path / go_test_binary_name(p);
}

}  // namespace mael
