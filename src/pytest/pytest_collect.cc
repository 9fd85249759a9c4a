#include "pytest/pytest_collect.h"

#include <archive.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/base64.h"
#include "base/error.h"
#include "base/subprocess.h"
#include "pytest/collect_script.h"

namespace mael {

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

nlohmann::json object_line(const std::string& line, const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw UserError(source + ": a line that is not a JSON object: " + line);
  return j;
}

// Bytes gzip compressed, uncompressed (libarchive's raw format reads a bare compressed stream).
std::optional<std::string> gunzip(const std::string& data) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  if (!a) return std::nullopt;
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_raw(a.get());
  archive_entry* entry = nullptr;
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK ||
      archive_read_next_header(a.get(), &entry) != ARCHIVE_OK || archive_filter_code(a.get(), 0) != ARCHIVE_FILTER_GZIP)
    return std::nullopt;
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

std::vector<PytestItem> parse_collection(std::string_view json_lines, const std::string& source) {
  std::vector<PytestItem> items;
  std::istringstream in{std::string(json_lines)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = object_line(line, source);
    PytestItem item;
    item.file = string_at(j, "file", source);
    item.name = string_at(j, "name", source);
    item.node_id = string_at(j, "node_id", source);
    item.inner = string_at(j, "inner", source);
    item.markers = strings_at(j, "markers", source);
    if (auto s = j.find("skip"); s != j.end() && s->is_string()) item.skip = s->get<std::string>();
    items.push_back(std::move(item));
  }
  return items;
}

std::string decode_collection_output(std::string_view job_stdout) {
  if (job_stdout.empty()) return "";
  std::optional<std::string> text = gunzip(base64_decode(job_stdout));
  if (!text)
    throw UserError("pytest's collection in the test container printed something that is not its list of tests "
                    "(cut short?)");
  return *text;
}

PythonInfo parse_python_probe(std::string_view json_line, const std::string& source) {
  std::string line(json_line);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  nlohmann::json j = object_line(line, source);
  auto p = j.find("python");
  if (p == j.end() || !p->is_object()) throw UserError(source + ": no interpreter record");
  PythonInfo py;
  py.executable = string_at(*p, "executable", source);
  py.prefix = string_at(*p, "prefix", source);
  py.base_prefix = string_at(*p, "base_prefix", source);
  py.stdlib = string_at(*p, "stdlib", source);
  py.version = string_at(*p, "version", source);
  py.path = strings_at(*p, "path", source);
  return py;
}

PythonInfo probe_python(const std::filesystem::path& project, const std::string& python) {
  ProcessResult r;
  try {
    RunOptions ro;
    ro.cwd = project;
    r = run_process({python, "-c", std::string(python_probe_script())}, ro);
  } catch (const ProgramNotFound&) {
    throw UserError(python + " is not on PATH: maelstrom-pytest runs where pytest is importable (activate the "
                    "project's virtualenv)");
  }
  if (r.exit_code == 97)
    throw UserError("pytest is not importable by " + python +
                    " on PATH: activate the virtualenv that has it, or `pip install pytest`");
  if (r.exit_code != 0 || r.signal != 0)
    throw UserError(python + " on PATH failed to start (" +
                    (r.signal ? "signal " + std::to_string(r.signal) : "exit code " + std::to_string(r.exit_code)) +
                    "): " + r.err);
  return parse_python_probe(r.out, python + "'s answer");
}

}  // namespace mael
