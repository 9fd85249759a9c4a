#include "container/job_script.h"

#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "base/elf_reader.h"
#include "container/script_blob_builder.h"

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
    case child::Step::Fork: return "starting the job's process";
    case child::Step::JobIds: return "taking the job's ids";
    case child::Step::Limits: return "setting the job's limits";
    case child::Step::JobNamespaces: return "making the job's user and mount namespaces";
    case child::Step::Script: return "reading the job script";
    case child::Step::Cgroup: return "joining the container's memory cgroup";
    default: return "container setup";
  }
}

}  // namespace

JobScript::JobScript(const ContainerConfig& config, const std::string& staging) : config_(config) {
  using child::MountOp;
  using child::Script;
  child::BlobBuilder b;
  const size_t script = b.alloc(sizeof(Script), alignof(Script));
  auto field = [&](size_t offset_in_script) { return script + offset_in_script; };

  // Overlay's lowerdir+ takes the top layer first. A layer named twice (two empty globs, the
  // same tar twice) is one tree; overlay refuses a directory given twice (ELOOP), and its top
  // occurrence alone gives the same view.
  std::vector<std::string> lowers;
  std::set<std::filesystem::path> seen;
  for (auto it = config.lower_dirs.rbegin(); it != config.lower_dirs.rend(); ++it)
    if (seen.insert(*it).second) lowers.push_back(host_relative(*it));
  b.pointer(field(offsetof(Script, lowers)), b.string_array(lowers));

  // Every tmpfs of the job is bounded (the job's files live in memory).
  const std::vector<std::string> tmpfs_options{"size", std::to_string(config.limits.max_tmpfs_size)};
  const size_t tmpfs_options_at = b.string_array(tmpfs_options);
  b.pointer(field(offsetof(Script, tmpfs_options)), tmpfs_options_at);

  // Mount operations, in order; devices expand to one op each.
  struct Pending {
    MountOp::Kind kind;
    const char* fstype;
    bool devpts;
    std::string source, target, what;
    bool read_only, sys, bind, shm;
  };
  std::vector<Pending> pending;
  for (const Mount& m : config.mounts) {
    switch (m.type) {
      case MountType::Bind:
        pending.push_back({MountOp::Bind, nullptr, false, host_relative(m.local_path), relative(m.mount_point),
                           "bind mount of " + m.local_path + " at " + m.mount_point, m.read_only, false, true,
                           false});
        break;
      case MountType::Devices:
        for (Device d : m.devices) {
          std::string name = device_name(d);
          if (d == Device::Shm)
            pending.push_back({MountOp::NewFs, "tmpfs", false, "", "dev/shm", "device /dev/shm", false, false,
                               false, true});
          else
            pending.push_back({MountOp::Bind, nullptr, false, "dev/" + name, "dev/" + name, "device /dev/" + name,
                               false, false, true, false});
        }
        break;
      default:
        pending.push_back({MountOp::NewFs, fstype(m.type), m.type == MountType::Devpts, "",
                           relative(m.mount_point), std::string(fstype(m.type)) + " mount at " + m.mount_point,
                           false, m.type == MountType::Sys, false, false});
    }
  }
  const size_t devpts_options = b.string_array({"ptmxmode", "0666", "mode", "0620"});
  const size_t ops = b.alloc(pending.size() * sizeof(MountOp), alignof(MountOp));
  for (size_t i = 0; i < pending.size(); ++i) {
    const Pending& p = pending[i];
    const size_t at = ops + i * sizeof(MountOp);
    MountOp op{};
    op.kind = p.kind;
    op.read_only = p.read_only;
    op.index = static_cast<int32_t>(i);
    b.put(at, op);
    if (p.fstype) b.pointer(at + offsetof(MountOp, fstype), b.string(p.fstype));
    if (p.devpts) b.pointer(at + offsetof(MountOp, options), devpts_options);
    if (p.kind == MountOp::Bind) b.pointer(at + offsetof(MountOp, source), b.string(p.source));
    b.pointer(at + offsetof(MountOp, target), b.string(p.target));
    targets_.push_back(p.target);
    what_.push_back(p.what);
    is_sys_.push_back(p.sys);
    is_bind_.push_back(p.bind);
    is_shm_.push_back(p.shm);
  }
  b.pointer(field(offsetof(Script, mounts)), ops);

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
  b.pointer(field(offsetof(Script, candidates)), b.string_array(candidate_strings_));
  std::vector<std::string> argv{config.program};
  argv.insert(argv.end(), config.arguments.begin(), config.arguments.end());
  b.pointer(field(offsetof(Script, argv)), b.string_array(argv));
  b.pointer(field(offsetof(Script, envp)), b.string_array(config.environment));

  b.pointer(field(offsetof(Script, staging)), b.string(host_relative(staging)));
  if (config.capture) {
    b.pointer(field(offsetof(Script, capture_upper)), b.string(host_relative(config.capture->upper)));
    b.pointer(field(offsetof(Script, capture_work)), b.string(host_relative(config.capture->work)));
  }
  b.pointer(field(offsetof(Script, working_directory)), b.string(config.working_directory));

  // The scalars, written over the zeroed Script (pointers are set above).
  auto set = [&](size_t offset, auto value) { b.put(script + offset, value); };
  set(offsetof(Script, loopback), config.network == Network::Loopback);
  set(offsetof(Script, n_lowers), static_cast<int>(lowers.size()));
  set(offsetof(Script, writable), config.enable_writable_file_system || config.capture.has_value());
  set(offsetof(Script, n_mounts), static_cast<int>(pending.size()));
  set(offsetof(Script, max_processes), config.limits.max_processes);
  set(offsetof(Script, terminal), config.terminal >= 0);
  set(offsetof(Script, search), search);
  set(offsetof(Script, n_candidates), static_cast<int>(candidate_strings_.size()));
  blob_ = std::move(b).finish();
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
      if (is_shm_[i] && (r.err == ENOTDIR || r.err == EINVAL))
        return exec(what_[i] + " needs a directory at /dev/shm, not a file: make its stub \"/dev/shm/\" (with "
                    "the trailing slash)");
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
