#include "runner/watch.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/error.h"

namespace mael {

namespace fs = std::filesystem;

namespace {
constexpr uint32_t kMask = IN_CREATE | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY;
}

DirectoryWatcher::DirectoryWatcher(fs::path root, std::vector<fs::path> ignore)
    : root_(fs::weakly_canonical(root)) {
  for (auto& p : ignore) ignore_.push_back(fs::weakly_canonical(p));
  fd_.reset(check_sys(inotify_init1(IN_CLOEXEC | IN_NONBLOCK), "inotify_init1"));
  add_tree(root_);
}

bool DirectoryWatcher::ignored(const fs::path& p) const {
  for (const auto& i : ignore_) {
    auto rel = p.lexically_relative(i);
    if (!rel.empty() && *rel.begin() != "..") return true;
    if (is_file_or_its_atomic_temp(p, i)) return true;
  }
  auto name = p.filename().string();
  return p != root_ && !name.empty() && name[0] == '.';
}

void DirectoryWatcher::add_tree(const fs::path& dir) {
  if (ignored(dir)) return;
  int wd = inotify_add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) return;  // vanished or unreadable: skip
  dirs_[wd] = dir;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_directory(ec2) && !it->is_symlink(ec2)) add_tree(it->path());
  }
}

bool DirectoryWatcher::drain(int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  int rc = poll(&p, 1, timeout_ms);
  if (rc < 0 && errno != EINTR) throw_errno("poll inotify");
  if (rc <= 0) return false;
  alignas(inotify_event) char buf[16384];
  bool changed = false;
  bool rescan = false;
  for (;;) {
    ssize_t n = read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (char* q = buf; q < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(q);
      q += sizeof(inotify_event) + ev->len;
      std::string name = ev->len ? ev->name : "";
      if (!name.empty() && name[0] == '.') continue;  // editor swap files, .git
      if (ev->mask & IN_IGNORED) continue;
      auto dir = dirs_.find(ev->wd);
      if (dir != dirs_.end() && !name.empty() && ignored(dir->second / name)) continue;
      // A new directory: watch it too (add_tree on watched directories only refreshes them).
      if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) rescan = true;
      changed = true;
    }
  }
  if (rescan) add_tree(root_);
  return changed;
}

bool DirectoryWatcher::wait_for_change(std::chrono::milliseconds quiet, std::chrono::milliseconds give_up) {
  auto deadline = std::chrono::steady_clock::now() + give_up;
  for (;;) {
    int t = -1;
    if (give_up.count() > 0) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      t = static_cast<int>(left.count());
    }
    if (drain(t)) break;
  }
  while (drain(static_cast<int>(quiet.count()))) {
  }
  return true;
}

}  // namespace mael
