#pragma once
// Test helpers: temporary directories and a tiny root file system made of a
// static busybox (package busybox-static) with applet symlinks, mount points
// and device stubs.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace mael::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/mael-rt-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline constexpr const char* kBusybox = "/bin/busybox";

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// Populates dir with busybox at /bin/busybox, applets in /bin, and the
// directories and stub files the tests mount over.
inline void make_busybox_root(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  for (const char* d : {"bin", "proc", "sys", "tmp", "dev", "dev/pts", "dev/shm", "dev/mqueue", "etc",
                        "mnt", "mnt/ro", "mnt/rw", "home", "work"})
    fs::create_directories(dir / d);
  fs::copy_file(kBusybox, dir / "bin/busybox");
  for (const char* a : {"sh", "true", "false", "cat", "ls", "id", "sleep", "echo", "env", "pwd", "ps",
                        "touch", "mkdir", "test", "head", "wc", "kill", "setsid", "grep", "stat", "nc",
                        "readlink", "seq", "tr", "dd", "rm", "sort", "ping", "stty", "ifconfig", "mv",
                        "mount", "umount", "chmod", "chown", "sed", "df", "unshare"})
    fs::create_symlink("busybox", dir / "bin" / a);
  for (const char* d : {"full", "fuse", "null", "random", "tty", "urandom", "zero"})
    write_file(dir / "dev" / d, "");
  write_file(dir / "etc/hostname-in-image", "image\n");
}

// Layer trees are owned by the host id jobs run as (the artifact store's tree
// owner): when the tests run as root, that is RuntimeOptions' default, not
// root. Gives dir's whole tree to it (no-op when not root).
inline void own_for_jobs(const std::filesystem::path& dir) {
  if (::geteuid() != 0) return;
  constexpr uid_t kJobHostId = 65534;
  ::lchown(dir.c_str(), kJobHostId, kJobHostId);
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    ::lchown(e.path().c_str(), kJobHostId, kJobHostId);
}

}  // namespace mael::testing
