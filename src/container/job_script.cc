#include "container/job_script.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "store/elf_reader.h"

namespace mael {

namespace {

namespace fs = std::filesystem;

// `path` (absolute, in the container) as a file of the topmost layer that has it.
std::optional<fs::path> find_in_layers(const std::vector<fs::path>& lower_dirs, const std::string& path) {
  for (auto it = lower_dirs.rbegin(); it != lower_dirs.rend(); ++it) {
    std::error_code ec;
    fs::path p = *it / fs::path(path).relative_path();
    if (fs::symlink_status(p, ec).type() != fs::file_type::not_found && !ec) return p;
  }
  return std::nullopt;
}

// The interpreter a program names: PT_INTERP of an ELF executable, or the `#!` line of a script.
std::optional<std::string> interpreter_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char head[2] = {};
  in.read(head, sizeof head);
  if (in.gcount() == 2 && head[0] == '#' && head[1] == '!') {
    std::string line;
    std::getline(in, line);
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) return std::nullopt;
    return line.substr(b, line.find_first_of(" \t", b) - b);
  }
  try {
    std::optional<ElfInfo> elf = read_elf(file);
    return elf ? elf->interpreter : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable or malformed: exec's own error stands
  }
}

}  // namespace

// Why exec said ENOENT for a program that is there: the interpreter it names is not (nullopt
// when the program is missing, names none, or its interpreter is found).
std::optional<std::string> missing_interpreter(const std::vector<fs::path>& lower_dirs,
                                               const std::string& program) {
  if (program.empty() || program[0] != '/') return std::nullopt;
  std::optional<fs::path> file = find_in_layers(lower_dirs, program);
  if (!file) return std::nullopt;
  std::optional<std::string> interp = interpreter_of(*file);
  if (!interp || interp->empty() || (*interp)[0] != '/' || find_in_layers(lower_dirs, *interp))
    return std::nullopt;
  return interp;
}

namespace {

constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
const char* const kDevptsOptions[] = {"ptmxmode", "0666", "mode", "0620", nullptr};

std::string relative(const std::string& mount_point) {
  size_t i = mount_point.find_first_not_of('/');
  return i == std::string::npos ? "." : mount_point.substr(i);
}

// The shell resolves host paths from the host's "/" (its cwd there).
std::string host_relative(const std::filesystem::path& p) {
  return relative(std::filesystem::absolute(p).lexically_normal().string());
}

const char* fstype(MountType t) {
  switch (t) {
    case MountType::Devpts: return "devpts";
    case MountType::Mqueue: return "mqueue";
    case MountType::Proc: return "proc";
    case MountType::Sys: return "sysfs";
    case MountType::Tmp: return "tmpfs";
    default: return nullptr;
  }
}

const char* step_name(child::Step s) {
  switch (s) {
    case child::Step::Prepare: return "preparing the container process";
    case child::Step::UidMap: return "writing uid_map";
    case child::Step::Setgroups: return "writing setgroups";
    case child::Step::GidMap: return "writing gid_map";
    case child::Step::Loopback: return "bringing up the loopback interface";
    case child::Step::RootFs: return "mounting the root file system";
    case child::Step::AttachRoot: return "attaching the root file system";
    case child::Step::EnterRoot: return "entering the root file system";
    case child::Step::Stdio: return "setting up stdin/stdout/stderr";
    case child::Step::Terminal: return "attaching the terminal";
    default: return "container setup";
  }
}

}  // namespace

JobScript::JobScript(const ContainerConfig& config) : config_(config) {
  // Overlay's lowerdir+ takes the top layer first.
  for (auto it = config.lower_dirs.rbegin(); it != config.lower_dirs.rend(); ++it)
    lower_strings_.push_back(host_relative(*it));
  for (auto& l : lower_strings_) lowers_.push_back(l.c_str());
  lowers_.push_back(nullptr);

  // Mount operations, in order; devices expand to one op each.
  struct Pending {
    child::MountOp::Kind kind;
    const char* fstype;
    const char* const* options;
    std::string source, target, what;
    bool read_only, sys, bind;
    int index;
  };
  std::vector<Pending> pending;
  for (size_t i = 0; i < config.mounts.size(); ++i) {
    const Mount& m = config.mounts[i];
    int index = static_cast<int>(i);
    switch (m.type) {
      case MountType::Bind:
        pending.push_back({child::MountOp::Bind, nullptr, nullptr, host_relative(m.local_path),
                           relative(m.mount_point), "bind mount of " + m.local_path + " at " + m.mount_point,
                           m.read_only, false, true, index});
        break;
      case MountType::Devices:
        for (Device d : m.devices) {
          std::string name = device_name(d);
          if (d == Device::Shm)
            pending.push_back({child::MountOp::NewFs, "tmpfs", nullptr, "", "dev/shm", "device /dev/shm",
                               false, false, false, index});
          else
            pending.push_back({child::MountOp::Bind, nullptr, nullptr, "dev/" + name, "dev/" + name,
                               "device /dev/" + name, false, false, true, index});
        }
        break;
      default:
        pending.push_back(
            {child::MountOp::NewFs, fstype(m.type), m.type == MountType::Devpts ? kDevptsOptions : nullptr,
             "", relative(m.mount_point), std::string(fstype(m.type)) + " mount at " + m.mount_point, false,
             m.type == MountType::Sys, false, index});
    }
  }
  targets_.reserve(pending.size());
  sources_.reserve(pending.size());
  for (auto& p : pending) {
    targets_.push_back(p.target);
    sources_.push_back(p.source);
    what_.push_back(p.what);
    is_sys_.push_back(p.sys);
    is_bind_.push_back(p.bind);
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    child::MountOp op{};
    op.kind = pending[i].kind;
    op.fstype = pending[i].fstype;
    op.options = pending[i].options;
    op.source = sources_[i].c_str();
    op.target = targets_[i].c_str();
    op.read_only = pending[i].read_only;
    op.index = static_cast<int>(i);
    ops_.push_back(op);
  }

  // Program lookup, as execvp does, but on the container's PATH.
  bool search = config.program.find('/') == std::string::npos;
  if (search) {
    std::string path = kDefaultPath;
    for (const auto& e : config.environment)
      if (e.rfind("PATH=", 0) == 0) {
        path = e.substr(5);
        break;
      }
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      if (dir.empty()) dir = ".";
      candidate_strings_.push_back(dir + "/" + config.program);
      start = end + 1;
    }
  } else {
    candidate_strings_.push_back(config.program);
  }
  for (auto& c : candidate_strings_) candidates_.push_back(c.c_str());

  argv_.push_back(const_cast<char*>(config.program.c_str()));
  for (auto& a : config.arguments) argv_.push_back(const_cast<char*>(a.c_str()));
  argv_.push_back(nullptr);
  for (auto& e : config.environment) envp_.push_back(const_cast<char*>(e.c_str()));
  envp_.push_back(nullptr);

  script_.loopback = config.network == Network::Loopback;
  script_.protect_proc = ::geteuid() == 0;
  script_.lowers = lowers_.data();
  script_.n_lowers = static_cast<int>(lower_strings_.size());
  script_.writable = config.enable_writable_file_system;
  script_.mounts = ops_.data();
  script_.n_mounts = static_cast<int>(ops_.size());
  script_.working_directory = config.working_directory.c_str();
  script_.search = search;
  script_.candidates = candidates_.data();
  script_.n_candidates = static_cast<int>(candidates_.size());
  script_.argv = argv_.data();
  script_.envp = envp_.data();
}

int JobScript::sys_mounts() const {
  int n = 0;
  for (bool sys : is_sys_) n += sys;
  return n;
}

JobError JobScript::error(const child::Report& r) const {
  using child::Step;
  const std::string err = std::strerror(r.err);
  auto exec = [](std::string m) { return JobError{JobErrorKind::Execution, std::move(m)}; };
  size_t i = r.index >= 0 ? static_cast<size_t>(r.index) : 0;
  bool has_op = r.index >= 0 && i < what_.size();
  switch (r.step) {
    case Step::MountPoint:
      if (!has_op) break;
      if (r.err == ENOENT) return exec("mount point /" + targets_[i] + " does not exist in the container");
      return exec("mount point /" + targets_[i] + ": " + err);
    case Step::MountCreate:
      if (!has_op) break;
      if (is_sys_[i] && config_.network == Network::Local)
        return exec(what_[i] +
                    ": sys mounts need the job's own network namespace; don't use network = local "
                    "with a sys mount");
      if (is_bind_[i]) return exec(what_[i] + ": " + err);
      return JobError{JobErrorKind::System, what_[i] + ": " + err};
    case Step::MountAttach:
      if (!has_op) break;
      return exec(what_[i] + ": " + err);
    case Step::WorkingDirectory: return exec("working directory " + config_.working_directory + ": " + err);
    case Step::NotFound: return exec("program " + config_.program + " not found on PATH");
    case Step::Exec: {
      std::string path = r.index >= 0 && static_cast<size_t>(r.index) < candidate_strings_.size()
                             ? candidate_strings_[static_cast<size_t>(r.index)]
                             : config_.program;
      if (r.err == ENOENT)
        if (std::optional<std::string> interp = missing_interpreter(config_.lower_dirs, path))
          return exec("executing " + path + ": its interpreter " + *interp +
                      " is not in the container; add it (for a dynamic executable, a layer with its shared "
                      "libraries and loader)");
      return exec("executing " + path + ": " + err);
    }
    case Step::RootFs: {
      std::string layers;
      for (auto& l : config_.lower_dirs) layers += (layers.empty() ? "" : ", ") + l.string();
      return JobError{JobErrorKind::System, "mounting the root file system (" + layers + "): " + err};
    }
    default: break;
  }
  return JobError{JobErrorKind::System, std::string(step_name(r.step)) + ": " + err};
}

}  // namespace mael
