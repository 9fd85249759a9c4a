#include "cargo/cargo_metadata.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"

namespace mael {

const char* artifact_kind_name(ArtifactKind k) {
  switch (k) {
    case ArtifactKind::Library: return "library";
    case ArtifactKind::Binary: return "binary";
    case ArtifactKind::Test: return "test";
    case ArtifactKind::Benchmark: return "benchmark";
    case ArtifactKind::Example: return "example";
  }
  return "library";
}

ArtifactKind artifact_kind_from_cargo(const std::vector<std::string>& kinds) {
  auto has = [&](const char* k) { return std::find(kinds.begin(), kinds.end(), k) != kinds.end(); };
  if (has("bin")) return ArtifactKind::Binary;
  if (has("test")) return ArtifactKind::Test;
  if (has("example")) return ArtifactKind::Example;
  if (has("bench")) return ArtifactKind::Benchmark;
  return ArtifactKind::Library;
}

CargoWorkspace parse_cargo_metadata(std::string_view text, const std::string& source) {
  try {
    auto j = nlohmann::json::parse(text);
    CargoWorkspace ws;
    ws.workspace_root = j.at("workspace_root").get<std::string>();
    ws.target_directory = j.at("target_directory").get<std::string>();
    std::set<std::string> members;
    for (const auto& m : j.at("workspace_members")) members.insert(m.get<std::string>());
    for (const auto& p : j.at("packages")) {
      std::string id = p.at("id").get<std::string>();
      if (!members.count(id)) continue;
      CargoPackage pkg;
      pkg.id = id;
      pkg.name = p.at("name").get<std::string>();
      pkg.version = p.at("version").get<std::string>();
      pkg.manifest_path = p.at("manifest_path").get<std::string>();
      for (const auto& t : p.at("targets")) {
        CargoTarget tgt;
        tgt.name = t.at("name").get<std::string>();
        auto kinds = t.at("kind").get<std::vector<std::string>>();
        tgt.kind = artifact_kind_from_cargo(kinds);
        tgt.proc_macro = std::find(kinds.begin(), kinds.end(), "proc-macro") != kinds.end();
        tgt.test = t.value("test", true);
        pkg.targets.push_back(std::move(tgt));
      }
      ws.packages.push_back(std::move(pkg));
    }
    return ws;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(source + ": unexpected output (" + e.what() + "); is cargo too old?");
  }
}

std::string artifact_key(const CargoTarget& t) {
  return t.name + "(" + artifact_kind_name(t.kind) + ")";
}

std::string case_display_name(const std::string& package, const std::string& target,
                              const std::string& case_name) {
  std::string dashed = target;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  std::string s = package + " ";
  if (dashed != package) s += target + " ";
  return s + case_name;
}

namespace {

// The source lines cargo quotes under a TOML error ("|", "2 | jobs = { y", "|   ^").
bool is_code_excerpt(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  while (i < line.size() && line[i] == ' ') ++i;
  return i < line.size() && line[i] == '|';
}

}  // namespace

std::string cargo_error_summary(const std::string& err) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < err.size();) {
    size_t end = err.find('\n', start);
    if (end == std::string::npos) end = err.size();
    lines.push_back(err.substr(start, end - start));
    start = end + 1;
  }
  auto trimmed = [](const std::string& l) {
    size_t b = l.find_first_not_of(" \t"), e = l.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : l.substr(b, e - b + 1);
  };
  size_t i = 0;
  while (i < lines.size() && lines[i].rfind("error: ", 0) != 0) ++i;
  if (i == lines.size()) {
    for (const std::string& l : lines)
      if (!trimmed(l).empty()) return trimmed(l);
    return "no error message";
  }
  std::string what = lines[i].substr(7), where;
  std::vector<std::string> causes;
  for (size_t j = i + 1; j < lines.size(); ++j) {
    std::string l = trimmed(lines[j]);
    if (l.rfind("error: ", 0) == 0 || l.rfind("warning: ", 0) == 0) break;  // the next message
    if (l.rfind("--> ", 0) == 0 && where.empty()) where = l.substr(4);
    if (l == "Caused by:") {
      // The cause is the indented text up to the next blank line.
      std::string cause;
      for (++j; j < lines.size() && !trimmed(lines[j]).empty(); ++j)
        if (!is_code_excerpt(trimmed(lines[j]))) cause += (cause.empty() ? "" : " ") + trimmed(lines[j]);
      if (!cause.empty()) causes.push_back(cause);
    }
  }
  std::string out = where.empty() ? what : where + ": " + what;
  for (const std::string& c : causes) out += ": " + c;
  return out;
}

}  // namespace mael
