#pragma once
// Test collection for maelstrom-pytest: pytest's own, run in the test container (a job built from
// the directives every test gets, see pytest_main.cc), and the probe of the interpreter on PATH
// whose files make up a container without an image.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

// The interpreter on PATH, for the layers of a job that has no image.
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

// Parses the collection script's JSON lines; `source` names them in errors.
std::vector<PytestItem> parse_collection(std::string_view json_lines, const std::string& source);

// The collection job's standard output (gzipped JSON lines in base64) as JSON lines. Throws
// UserError when it is not that (a truncated output, say).
std::string decode_collection_output(std::string_view job_stdout);

// Parses the probe script's line.
PythonInfo parse_python_probe(std::string_view json_line, const std::string& source);

// Runs `python` (looked up on PATH) in `project` to learn where its files are. Throws UserError
// when it is not on PATH or cannot import pytest.
PythonInfo probe_python(const std::filesystem::path& project, const std::string& python = "python3");

}  // namespace mael
