#pragma once
// --watch: waits until something changes under a project directory (inotify on every directory
// of the tree), ignoring the given paths and hidden directories (.git). An ignored directory is
// ignored with all below it; an ignored file (a report the run writes) with the temporary files
// write_file_atomically replaces it through.
#include <chrono>
#include <filesystem>
#include <map>
#include <vector>

#include "base/unique_fd.h"

namespace mael {

class DirectoryWatcher {
 public:
  DirectoryWatcher(std::filesystem::path root, std::vector<std::filesystem::path> ignore);

  // Blocks until a file is created, written, removed or renamed, then waits until changes
  // settle for `quiet` (editors write in bursts). Returns false if `give_up` passed first
  // (zero: wait forever).
  bool wait_for_change(std::chrono::milliseconds quiet = std::chrono::milliseconds(200),
                       std::chrono::milliseconds give_up = std::chrono::milliseconds(0));

 private:
  void add_tree(const std::filesystem::path& dir);
  bool ignored(const std::filesystem::path& p) const;
  // Reads pending events; true when any of them is a change.
  bool drain(int timeout_ms);

  std::filesystem::path root_;
  std::vector<std::filesystem::path> ignore_;
  UniqueFd fd_;  // inotify
  std::map<int, std::filesystem::path> dirs_;  // watch descriptor -> directory
};

}  // namespace mael
