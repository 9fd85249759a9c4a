#include "cargo/cargo_build.h"

#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace mael {

std::string cargo_program() {
  const char* c = std::getenv("CARGO");
  if (c != nullptr && c[0] == '/' && access(c, X_OK) == 0) return c;
  return "cargo";
}

std::vector<std::string> cargo_metadata_args(const CargoOptions& o) {
  std::vector<std::string> a = {cargo_program(), "metadata", "--no-deps", "--format-version=1"};
  if (o.features) a.push_back("--features=" + *o.features);
  if (o.all_features) a.push_back("--all-features");
  if (o.no_default_features) a.push_back("--no-default-features");
  if (o.manifest_path) a.insert(a.end(), {"--manifest-path", *o.manifest_path});
  if (o.frozen) a.push_back("--frozen");
  if (o.locked) a.push_back("--locked");
  if (o.offline) a.push_back("--offline");
  return a;
}

std::vector<std::string> cargo_test_build_args(const CargoOptions& o,
                                               const std::vector<const CargoPackage*>& packages, bool color) {
  std::vector<std::string> a = {cargo_program(), "test", "--no-run", "--message-format=json-render-diagnostics",
                                std::string("--color=") + (color ? "always" : "never")};
  if (o.features) a.push_back("--features=" + *o.features);
  if (o.all_features) a.push_back("--all-features");
  if (o.no_default_features) a.push_back("--no-default-features");
  if (o.profile) a.push_back("--profile=" + *o.profile);
  if (o.target) a.push_back("--target=" + *o.target);
  if (o.target_dir) a.insert(a.end(), {"--target-dir", *o.target_dir});
  if (o.manifest_path) a.insert(a.end(), {"--manifest-path", *o.manifest_path});
  if (o.frozen) a.push_back("--frozen");
  if (o.locked) a.push_back("--locked");
  if (o.offline) a.push_back("--offline");
  if (packages.empty()) a.push_back("--workspace");
  for (const auto* p : packages) a.insert(a.end(), {"--package", p->name + "@" + p->version});
  return a;
}

ArtifactCollector::ArtifactCollector(const std::vector<const CargoPackage*>& packages) {
  for (const auto* p : packages) {
    Pending pend{p, {}, {}};
    for (const auto& t : p->targets)
      if (t.kind == ArtifactKind::Binary) pend.unbuilt_binaries.insert(t.name);
    packages_.emplace(p->id, std::move(pend));
  }
}

std::vector<TestArtifact> ArtifactCollector::feed(std::string_view line) {
  std::vector<TestArtifact> ready;
  if (line.empty() || line[0] != '{') return ready;
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || j.value("reason", "") != "compiler-artifact") return ready;
  bool fresh = j.value("fresh", false);
  if (!fresh) rebuilt_ = true;
  auto it = packages_.find(j.value("package_id", ""));
  if (it == packages_.end()) return ready;
  Pending& pkg = it->second;
  const auto& target = j.at("target");
  auto kinds = target.at("kind").get<std::vector<std::string>>();
  if (std::find(kinds.begin(), kinds.end(), "proc-macro") != kinds.end()) return ready;
  bool test_profile = j.at("profile").value("test", false);
  std::string name = target.at("name").get<std::string>();
  ArtifactKind kind = artifact_kind_from_cargo(kinds);
  auto exe = j.find("executable");
  bool has_exe = exe != j.end() && exe->is_string();
  auto make = [&] {
    TestArtifact a;
    a.package = pkg.package;
    a.target.name = name;
    a.target.kind = kind;
    a.executable = exe->get<std::string>();
    a.fresh = fresh;
    return a;
  };
  if (kind == ArtifactKind::Test) {
    if (has_exe) pkg.held.push_back(make());
  } else if (kind == ArtifactKind::Binary && !test_profile) {
    if (!pkg.unbuilt_binaries.erase(name))
      throw UserError("cargo built binary '" + name + "' that package " + pkg.package->name +
                      " does not declare; is the cargo metadata stale?");
  } else if (has_exe && test_profile) {
    ready.push_back(make());
  }
  if (pkg.unbuilt_binaries.empty()) {
    for (auto& a : pkg.held) ready.push_back(std::move(a));
    pkg.held.clear();
  }
  return ready;
}

std::vector<TestArtifact> ArtifactCollector::finish() {
  std::vector<TestArtifact> ready;
  for (auto& [id, pkg] : packages_) {
    for (auto& a : pkg.held) ready.push_back(std::move(a));
    pkg.held.clear();
  }
  return ready;
}

namespace {

std::string strip_ansi(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

bool cargo_started_compiling(std::string_view text) {
  // With --color=always the word is wrapped in escape sequences; as a word of a warning it only
  // costs the early start.
  return text.find("Compiling") != std::string_view::npos;
}

std::string filter_build_output(std::string_view text) {
  static const char* kProgress[] = {"Compiling",  "Building",   "Blocking",   "Finished",
                                    "Executable", "Checking",   "Fresh",      "Updating",
                                    "Locking",    "Downloaded", "Downloading"};
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line = strip_ansi(text.substr(start, end - start));
    start = end + 1;
    if (auto cr = line.rfind('\r'); cr != std::string::npos && cr + 1 < line.size())
      line = line.substr(cr + 1);
    size_t first = line.find_first_not_of(' ');
    bool progress = false;
    if (first != std::string::npos && first > 0) {
      std::string_view word = std::string_view(line).substr(first);
      for (const char* p : kProgress)
        if (word.substr(0, std::strlen(p)) == p &&
            (word.size() == std::strlen(p) || word[std::strlen(p)] == ' '))
          progress = true;
    }
    if (!progress) out += line + "\n";
  }
  // Drop leading and trailing blank lines.
  size_t b = out.find_first_not_of('\n');
  if (b == std::string::npos) return "";
  size_t e = out.find_last_not_of('\n');
  return out.substr(b, e - b + 1) + "\n";
}

}  // namespace mael
