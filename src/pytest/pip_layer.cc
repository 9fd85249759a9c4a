#include "pytest/pip_layer.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/input_file.h"
#include "base/log.h"

namespace mael {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxRequirementsBytes = 1 << 20;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A directory name for the image: its name with everything but letters, digits, '.' and '-'
// turned into '_'.
std::string dir_name(const std::string& image) {
  std::string out;
  for (char c : image) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_');
  return out;
}

void remove_tree(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return;
  // overlay leaves its work directory without permissions: give them back before removing.
  for (fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
  ::chmod(p.c_str(), 0755);
  if (fs::exists(p / "work")) ::chmod((p / "work").c_str(), 0755);
  fs::remove_all(p, ec);
  if (ec) throw UserError("cannot remove " + p.string() + ": " + ec.message());
}

std::string last_line(const std::string& text) {
  size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return "";
  size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

bool is_python_image(const std::string& image_name) {
  std::string name = image_name;
  if (size_t scheme = name.find("://"); scheme != std::string::npos) name = name.substr(scheme + 3);
  if (size_t at = name.find('@'); at != std::string::npos) name = name.substr(0, at);
  size_t slash = name.rfind('/');
  std::string last = slash == std::string::npos ? name : name.substr(slash + 1);
  if (size_t colon = last.find(':'); colon != std::string::npos) last = last.substr(0, colon);
  return last == "python";
}

std::optional<LayerSpec> pip_packages_layer(const ImageRef& image, const PipLayerOptions& o) {
  fs::path requirements = o.project / "test-requirements.txt";
  std::error_code ec;
  if (!fs::is_regular_file(requirements, ec)) return std::nullopt;
  std::string wanted = read_input_file(requirements, "test-requirements.txt", "name pip's requirements in a file",
                                       kMaxRequirementsBytes);
  fs::path dir = o.cache_dir / "pip_packages" / dir_name(image.name);
  fs::path upper = dir / "root", saved = dir / "requirements.txt";
  if (!(fs::exists(saved, ec) && read_file(saved) == wanted && fs::is_directory(upper, ec))) {
    log::info("installing the packages of test-requirements.txt into {}", image.name);
    remove_tree(dir);
    fs::create_directories(upper, ec);
    if (!ec) fs::create_directories(dir / "work", ec);
    if (ec) throw UserError("cannot create " + dir.string() + ": " + ec.message());

    JobSpec job;
    job.container.parent = ImageRef{image.name, {ImageUse::Layers, ImageUse::Environment}};
    std::vector<std::string> paths = {fs::absolute(requirements).string()};
    if (fs::is_regular_file("/etc/resolv.conf", ec)) paths.push_back("/etc/resolv.conf");  // names for pip
    job.container.layers = {PathsLayer{paths, {}}, StubsLayer{{"/dev/null", "/tmp/"}}};
    job.container.mounts = {Mount{MountType::Tmp, "/tmp", "", false, {}},
                            Mount{MountType::Devices, "", "", false, {Device::Null}}};
    job.container.network = Network::Local;
    job.program = "/bin/sh";
    job.arguments = {"-c", "set -e; python -m pip install --no-cache-dir --disable-pip-version-check --no-warn-script-location --requirement \"$1\"; "
                           "python -m compileall -q /usr/local/lib/python3* >/dev/null 2>&1 || true",
                     "pip-install", paths.front()};
    job.capture_file_system_changes = CaptureFileSystemChanges{fs::absolute(upper).string(),
                                                               fs::absolute(dir / "work").string()};
    JobOutcome out = run_job_and_wait(o.submit, job);
    std::string log_text = out.effects.stdout_.first + out.effects.stderr_.first;
    fs::path log_file = dir / "pip-install.log";
    write_file_atomically(log_file, log_text);
    if (const auto* e = std::get_if<JobError>(&out.result))
      throw UserError("installing test-requirements.txt into " + image.name + ": " + e->message);
    const auto* exited = std::get_if<Exited>(&out.result);
    if (!exited || exited->code != 0) {
      std::string why = exited ? "exit code " + std::to_string(exited->code)
                               : (std::holds_alternative<TimedOut>(out.result) ? "timed out" : "killed");
      throw UserError("pip could not install test-requirements.txt into " + image.name + " (" + why +
                      "): " + last_line(out.effects.stderr_.first) + " (whole output: " + log_file.string() + ")");
    }
    write_file_atomically(saved, wanted);
  }
  // The files pip wrote (not overlay's whiteouts: it deleted nothing the tests need back).
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(upper, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    auto st = it->symlink_status(e2);
    if (fs::is_regular_file(st) || fs::is_symlink(st)) files.push_back(it->path().string());
  }
  PathsLayer layer{std::move(files), {}};
  layer.prefix.strip_prefix = fs::absolute(upper).string();
  layer.prefix.prepend_prefix = "/";
  return layer;
}

}  // namespace mael
