#include "pytest/python_layers.h"

#include <algorithm>
#include <set>
#include <system_error>

#include "base/error.h"
#include "base/log.h"
#include "runner/binary_layers.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

bool is_under(const fs::path& p, const fs::path& dir) {
  auto [d, q] = std::mismatch(dir.begin(), dir.end(), p.begin(), p.end());
  return d == dir.end();
}

// Standard-library subdirectories no test imports, or that are site-packages directories of
// their own (walked only when on sys.path).
bool skipped_stdlib_dir(const std::string& name) {
  static const std::set<std::string> kSkip = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip",
                                               "site-packages", "dist-packages"};
  return kSkip.count(name) > 0 || name.rfind("config-", 0) == 0;
}

class Walk {
 public:
  Walk(const fs::path& project, std::set<fs::path> roots) : project_(project), roots_(std::move(roots)) {}

  void add_tree(const fs::path& root, bool stdlib) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      if (fs::exists(root, ec)) add_file(root);  // a zip on sys.path
      return;
    }
    if (!done_.insert(root).second) return;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      std::error_code e2;
      if (it->is_directory(e2) && !it->is_symlink(e2)) {
        bool skip = p == project_ || (p != root && roots_.count(p)) ||
                    (stdlib && it.depth() == 0 && skipped_stdlib_dir(p.filename().string()));
        if (skip) it.disable_recursion_pending();
        continue;
      }
      add_file(p);
    }
  }

  // A file and, when it is a symlink, the chain of links to the file it names.
  void add_file(fs::path p) {
    for (int hops = 0; hops < 40; ++hops) {
      if (!paths_.insert(p.string()).second) return;
      std::error_code ec;
      if (!fs::is_symlink(p, ec)) return;
      fs::path target = fs::read_symlink(p, ec);
      if (ec) return;
      p = (target.is_absolute() ? target : p.parent_path() / target).lexically_normal();
    }
  }

  std::vector<std::string> paths() const { return {paths_.begin(), paths_.end()}; }

 private:
  fs::path project_;
  std::set<fs::path> roots_;
  std::set<fs::path> done_;
  std::set<std::string> paths_;
};

}  // namespace

PythonLayers host_python_layers(const PythonInfo& py, const fs::path& project) {
  std::set<fs::path> roots;
  for (const auto& p : py.path) roots.insert(fs::path(p).lexically_normal());
  Walk walk(project, roots);
  walk.add_file(py.executable);
  if (py.prefix != py.base_prefix) walk.add_file(fs::path(py.prefix) / "pyvenv.cfg");
  walk.add_tree(fs::path(py.stdlib).lexically_normal(), true);
  // A virtualenv inside the project is walked too: its .so files are no glob's business.
  for (const auto& r : roots)
    if (r != project && !is_under(project, r)) walk.add_tree(r, false);

  // The shared libraries of the interpreter and of the extension modules, at their paths with
  // their symlink chains. One that cannot be resolved is left out (an optional extension whose
  // library is not installed fails here as it would outside a container: when imported).
  SharedLibraryResolver resolver = make_shared_library_resolver();
  std::vector<fs::path> binaries;
  std::error_code ec;
  binaries.push_back(fs::canonical(py.executable, ec));
  if (ec) binaries.back() = py.executable;
  for (const auto& p : walk.paths())
    if (p.size() > 3 && p.compare(p.size() - 3, 3, ".so") == 0 && fs::is_regular_file(p, ec)) binaries.push_back(p);
  size_t unresolved = 0;
  for (const auto& b : binaries) {
    try {
      for (const auto& lib : resolver.resolve({b})) walk.add_file(lib);
    } catch (const UserError& e) {
      ++unresolved;
      log::debug("libraries of {} left out: {}", b.string(), e.what());
    }
  }
  PythonLayers out;
  out.program = py.executable;
  std::vector<std::string> paths = walk.paths();
  out.files = paths.size();
  out.layers.push_back(PathsLayer{std::move(paths), {}});
  log::debug("the host's Python {} as layers: {} files ({} binaries' libraries not found)", py.version, out.files,
             unresolved);
  return out;
}

}  // namespace mael
