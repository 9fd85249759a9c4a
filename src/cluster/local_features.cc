#include "cluster/local_features.h"

#include <filesystem>

#include "base/format.h"

namespace mael::cluster {

namespace fs = std::filesystem;

namespace {

// Whether `path` is `root` or inside it (both lexically normal and absolute).
bool under(const fs::path& path, const fs::path& root) {
  auto p = path.begin(), r = root.begin();
  for (; r != root.end() && !r->empty(); ++r, ++p)
    if (p == path.end() || *p != *r) return false;
  return true;
}

fs::path resolved(const std::string& path, bool on_host) {
  fs::path p = fs::path(path).lexically_normal();
  if (!on_host) return p;
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);  // follows every link: where the bind mount would really point
  return ec ? fs::path() : c;
}

}  // namespace

std::optional<std::string> local_features_refusal(const ResolvedJob& job, const WorkerFeatures& features,
                                                  const std::string& worker, bool on_host) {
  if (job.network == Network::Local && !features.local_network)
    return mael::format(
        "worker {} does not run jobs with network = \"local\" from the broker (its allow-local-network is "
        "off)",
        worker);
  for (const Mount& m : job.mounts) {
    if (m.type != MountType::Bind) continue;
    if (features.bind_mount_roots.empty())
      return mael::format(
          "worker {} does not run jobs with bind mounts from the broker (its allow-bind-mounts is empty)",
          worker);
    if (!fs::path(m.local_path).is_absolute())
      return mael::format("bind mount local_path {} is not absolute", m.local_path);
    fs::path p = resolved(m.local_path, on_host);
    if (p.empty())
      return mael::format("worker {} cannot bind-mount {}: it does not exist there", worker, m.local_path);
    bool allowed = false;
    for (const std::string& root : features.bind_mount_roots) {
      fs::path r = resolved(root, on_host);  // empty: not on this host, allows nothing
      if (!r.empty() && under(p, r)) allowed = true;
    }
    if (!allowed)
      return mael::format(
          "worker {} does not bind-mount {} from the broker: it is not under its allow-bind-mounts", worker,
          m.local_path);
  }
  return std::nullopt;
}

}  // namespace mael::cluster
