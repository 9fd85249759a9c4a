#pragma once
// Test collection for maelstrom-pytest: pytest's own, run by the Python found on PATH in the
// project directory (as Maelstrom does), and what it reports about the interpreter.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

// The interpreter that collected, for the layers of a job that has no image.
struct PythonInfo {
  std::string executable;   // sys.executable (a virtualenv's own, when one is active)
  std::string prefix;       // sys.prefix
  std::string base_prefix;  // sys.base_prefix: differs from prefix in a virtualenv
  std::string stdlib;       // the standard library's directory
  std::vector<std::string> path;  // sys.path, without the project directory
  std::string version;
};

struct PytestItem {
  std::string file;     // relative to the project directory
  std::string name;     // "test_x", "TestC.test_m", "test_p[1-a]": the listing's case name
  std::string node_id;  // pytest's, relative to its rootdir
  std::string inner;    // the node id after the file: "TestC::test_m"
  std::vector<std::string> markers;  // the item's, its class's and its module's, once each
  std::optional<std::string> skip;   // skipped at collection: the reason
};

struct Collection {
  PythonInfo python;
  std::vector<PytestItem> items;
};

// Parses the collection script's JSON lines; `source` names them in errors.
Collection parse_collection(std::string_view json_lines, const std::string& source);

struct CollectResult {
  int exit_code = 0;   // pytest's (0 also for "no tests collected")
  std::string output;  // what pytest printed: its report of a failed collection
  Collection collection;
};

struct CollectOptions {
  std::filesystem::path project;
  std::filesystem::path scratch;     // a directory for the script's output file
  std::vector<std::string> args;     // for pytest: --pyargs M, --ignore DIR, extra args
  std::string python = "python3";   // looked up on PATH
};

// Runs the collection. Throws UserError when Python cannot start or pytest is not importable.
CollectResult collect_pytest(const CollectOptions& options);

}  // namespace mael
