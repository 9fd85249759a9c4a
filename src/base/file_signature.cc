#include "base/file_signature.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>

namespace mael {
namespace {

int64_t ns(const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

std::string file_signature(const std::filesystem::path& path, int64_t* changed_ns) {
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) return "-";
  if (changed_ns != nullptr) *changed_ns = std::max(ns(st.st_mtim), ns(st.st_ctim));
  return std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
         std::to_string(ns(st.st_mtim)) + ':' + std::to_string(ns(st.st_ctim));
}

int64_t wall_clock_ns() {
  timespec t;
  ::clock_gettime(CLOCK_REALTIME, &t);
  return ns(t);
}

}  // namespace mael
