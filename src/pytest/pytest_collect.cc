#include "pytest/pytest_collect.h"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "base/error.h"
#include "base/subprocess.h"
#include "pytest/collect_script.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

std::string string_at(const nlohmann::json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) throw UserError(source + ": a record without the string \"" + key + "\"");
  return it->get<std::string>();
}

std::vector<std::string> strings_at(const nlohmann::json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  std::vector<std::string> out;
  if (it == j.end() || !it->is_array()) throw UserError(source + ": a record without the list \"" + key + "\"");
  for (const auto& v : *it) {
    if (!v.is_string()) throw UserError(source + ": \"" + key + "\" holds a value that is not a string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

Collection parse_collection(std::string_view json_lines, const std::string& source) {
  Collection c;
  bool have_python = false;
  std::istringstream in{std::string(json_lines)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw UserError(source + ": a line that is not a JSON object: " + line);
    if (auto p = j.find("python"); p != j.end()) {
      if (!p->is_object()) throw UserError(source + ": \"python\" is not an object");
      c.python.executable = string_at(*p, "executable", source);
      c.python.prefix = string_at(*p, "prefix", source);
      c.python.base_prefix = string_at(*p, "base_prefix", source);
      c.python.stdlib = string_at(*p, "stdlib", source);
      c.python.version = string_at(*p, "version", source);
      c.python.path = strings_at(*p, "path", source);
      have_python = true;
      continue;
    }
    PytestItem item;
    item.file = string_at(j, "file", source);
    item.name = string_at(j, "name", source);
    item.node_id = string_at(j, "node_id", source);
    item.inner = string_at(j, "inner", source);
    item.markers = strings_at(j, "markers", source);
    if (auto s = j.find("skip"); s != j.end() && s->is_string()) item.skip = s->get<std::string>();
    c.items.push_back(std::move(item));
  }
  if (!have_python) throw UserError(source + ": no interpreter record");
  return c;
}

CollectResult collect_pytest(const CollectOptions& o) {
  std::error_code ec;
  fs::create_directories(o.scratch, ec);
  if (ec) throw UserError("cannot create " + o.scratch.string() + ": " + ec.message());
  fs::path out = o.scratch / ("collected." + std::to_string(getpid()) + ".jsonl");
  fs::remove(out, ec);
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code e;
      fs::remove(p, e);
    }
  } remove{out};
  std::vector<std::string> argv = {o.python, "-c", std::string(pytest_collect_script()), out.string()};
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  ProcessResult r;
  try {
    RunOptions ro;
    ro.cwd = o.project;
    r = run_process(argv, ro);
  } catch (const ProgramNotFound&) {
    throw UserError(o.python + " is not on PATH: maelstrom-pytest runs where pytest is importable (activate the "
                    "project's virtualenv)");
  }
  if (r.exit_code == 97)
    throw UserError("pytest is not importable by " + o.python +
                    " on PATH: activate the virtualenv that has it, or `pip install pytest`");
  CollectResult res;
  res.exit_code = r.exit_code;
  res.output = r.err;
  std::ifstream f(out);
  std::stringstream text;
  text << f.rdbuf();
  if (r.exit_code == 0) {
    res.collection = parse_collection(text.str(), "pytest collection output");
  } else if (r.signal != 0 && r.err.empty()) {
    res.output = "pytest collection killed by signal " + std::to_string(r.signal) + "\n";
  }
  return res;
}

}  // namespace mael
