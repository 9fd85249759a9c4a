#include "container/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/log.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open " + path.string());
  ssize_t n = ::write(fd, text.data(), text.size());
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) throw_errno("write " + path.string(), n < 0 ? e : EIO);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct CgroupMount {
  fs::path mount_point;
  std::string root;  // the mount's root within the hierarchy
};

// The mount of the v1 hierarchy with `controller`, or of the v2 hierarchy
// (controller empty).
std::optional<CgroupMount> find_mount(const std::string& controller) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    std::istringstream f(line);
    std::string id, parent, dev, root, point, options, word;
    f >> id >> parent >> dev >> root >> point >> options;
    while (f >> word && word != "-") {
    }
    std::string fstype, source, super;
    f >> fstype >> source >> super;
    if (controller.empty() ? fstype != "cgroup2" : fstype != "cgroup") continue;
    if (!controller.empty()) {
      bool has = false;
      std::istringstream opts(super);
      for (std::string o; std::getline(opts, o, ',');) has |= o == controller;
      if (!has) continue;
    }
    return CgroupMount{point, root};
  }
  return std::nullopt;
}

// Our cgroup's path in the hierarchy of `controller` (v2: empty).
std::optional<std::string> own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controller.empty()) {
      if (line.substr(0, a) == "0" && controllers.empty()) return path;
      continue;
    }
    std::istringstream c(controllers);
    for (std::string name; std::getline(c, name, ',');)
      if (name == controller) return path;
  }
  return std::nullopt;
}

std::optional<fs::path> own_dir(const std::string& controller) {
  auto mount = find_mount(controller);
  auto path = own_cgroup(controller);
  if (!mount || !path) return std::nullopt;
  std::string rel = *path;
  if (mount->root != "/" && rel.rfind(mount->root, 0) == 0) rel = rel.substr(mount->root.size());
  return mount->mount_point / fs::path(rel).relative_path();
}

bool writable(const fs::path& dir) { return ::access(dir.c_str(), W_OK | X_OK) == 0; }

// The job cgroups a runtime left when its process was killed (it removes its own otherwise):
// those of a pid no process has any more. A cgroup still holding a process stays (rmdir fails).
void remove_stale_job_cgroups(const fs::path& parent) {
  constexpr std::string_view kPrefix = "maelstrom-job-";
  std::error_code ec;
  size_t removed = 0;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    std::string pid_text = name.substr(kPrefix.size(), name.find('-', kPrefix.size()) - kPrefix.size());
    char* stop = nullptr;
    long pid = std::strtol(pid_text.c_str(), &stop, 10);
    if (pid_text.empty() || *stop != '\0' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // its owner lives
    if (::rmdir(it->path().c_str()) == 0) ++removed;
  }
  if (removed) log::debug("removed {} job cgroups left by runtimes that were killed", removed);
}

}  // namespace

JobCgroups::JobCgroups(fs::path parent, int version) : parent_(std::move(parent)), version_(version) {
  remove_stale_job_cgroups(parent_);
}

std::unique_ptr<JobCgroups> JobCgroups::detect() {
  // cgroup v2: only where our cgroup already gives its children the memory
  // controller (we do not move ourselves to make that possible).
  if (auto dir = own_dir("")) {
    std::string subtree = read_file(*dir / "cgroup.subtree_control");
    if (subtree.find("memory") != std::string::npos && writable(*dir))
      return std::make_unique<JobCgroups>(*dir, 2);
  }
  if (auto dir = own_dir("memory"); dir && fs::exists(*dir / "memory.limit_in_bytes") && writable(*dir))
    return std::make_unique<JobCgroups>(*dir, 1);
  return nullptr;
}

JobCgroups::~JobCgroups() {
  for (Slot& slot : slots_) {
    if (slot.tasks >= 0) ::close(slot.tasks);
    // The containers are gone, but the kernel may still be releasing them.
    bool removed = false;
    for (int attempt = 0; attempt < 100 && !removed; ++attempt) {
      removed = ::rmdir(slot.dir.c_str()) == 0 || errno == ENOENT;
      if (!removed && errno != EBUSY) break;
      if (!removed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!removed) log::warn("could not remove the job cgroup {}: {}", slot.dir.string(), std::strerror(errno));
  }
}

JobCgroups::Job JobCgroups::take() {
  size_t index;
  {
    std::lock_guard lock(mu_);
    index = slots_.size();
    for (size_t i = 0; i < slots_.size(); ++i)
      if (!slots_[i].in_use) {
        index = i;
        break;
      }
    if (index == slots_.size()) {
      // Unique among the runtimes of every process (a name left by a process
      // that died is skipped).
      static std::atomic<uint64_t> made{0};
      fs::path dir;
      for (;;) {
        dir = parent_ / ("maelstrom-job-" + std::to_string(::getpid()) + "-" + std::to_string(++made));
        if (::mkdir(dir.c_str(), 0755) == 0) break;
        if (errno != EEXIST) throw_errno("making a job cgroup " + dir.string());
      }
      Slot slot{dir};
      if (version_ == 1) {
        slot.tasks = ::open((dir / "tasks").c_str(), O_WRONLY | O_CLOEXEC);
        if (slot.tasks < 0) {
          int e = errno;
          ::rmdir(dir.c_str());
          throw_errno("opening " + (dir / "tasks").string(), e);
        }
      }
      slots_.push_back(std::move(slot));
    }
    slots_[index].in_use = true;
  }
  Slot* slot;
  {
    std::lock_guard lock(mu_);
    slot = &slots_[index];  // stays valid: a deque only grows at its end
  }
  Job job(this, slot);
  // The kernel's OOM kill count before the container, read here rather than
  // when the job starts: containers are made ahead, off the job's path.
  slot->oom_kills = read_oom_kills(slot->dir);
  return job;
}

const fs::path& JobCgroups::Job::dir() const { return static_cast<Slot*>(slot_)->dir; }

int JobCgroups::Job::join_fd() const { return static_cast<Slot*>(slot_)->tasks; }

void JobCgroups::Job::add(int pid) { write_file(dir() / "cgroup.procs", std::to_string(pid)); }

void JobCgroups::Job::limit(uint64_t max_memory) {
  Slot& slot = *static_cast<Slot*>(slot_);  // ours while in use: no lock needed
  if (slot.limit == max_memory) return;
  const fs::path& dir = slot.dir;
  slot.limit.reset();  // unknown until written
  if (owner_->version_ == 2) {
    write_file(dir / "memory.max", max_memory ? std::to_string(max_memory) : "max");
    // Swap would let the job go past the limit.
    if (fs::exists(dir / "memory.swap.max")) write_file(dir / "memory.swap.max", max_memory ? "0" : "max");
  } else {
    // v1: memory+swap may never be below memory alone: lift it first.
    const bool memsw = fs::exists(dir / "memory.memsw.limit_in_bytes");
    if (memsw) write_file(dir / "memory.memsw.limit_in_bytes", "-1");
    write_file(dir / "memory.limit_in_bytes", max_memory ? std::to_string(max_memory) : "-1");
    if (max_memory && memsw) write_file(dir / "memory.memsw.limit_in_bytes", std::to_string(max_memory));
  }
  slot.limit = max_memory;
}

JobCgroups::Job::~Job() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mu_);
  static_cast<Slot*>(slot_)->in_use = false;
}

uint64_t JobCgroups::read_oom_kills(const fs::path& dir) const {
  std::string text = read_file(dir / (version_ == 2 ? "memory.events" : "memory.oom_control"));
  std::istringstream in(text);
  std::string key;
  uint64_t value;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  return 0;
}

bool JobCgroups::Job::oom_killed() const {
  const Slot& slot = *static_cast<const Slot*>(slot_);
  return owner_->read_oom_kills(slot.dir) > slot.oom_kills;
}

}  // namespace mael
