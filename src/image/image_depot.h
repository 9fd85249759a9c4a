#pragma once
// The image depot: turns an image name into layers on disk plus the config
// fields jobs inherit. Sources: registries (docker://), OCI layouts (oci:),
// OCI layout tars (oci-archive:) and `docker save` tars (docker-archive:).
//
// Depot root layout (shared by all tools and processes; see blob_store.h):
//   blobs/sha256/HEX       manifests, configs and layer blobs, verified
//   images/TOPHEX_OS_ARCH[_VARIANT].json
//                          a complete pulled image, written last, so a failed
//                          pull leaves no image behind (TOPHEX = the digest the
//                          name or lock file resolved to)
//   pins/TOPHEX_...        flock(LOCK_SH)ed by each process using the image
//   locks/, tmp/           per-digest flock files and locks/depot.lock, scratch space
//
// Size bound: after each pull or import, when the blobs exceed
// ImageOptions::size_limit, images no process uses are evicted, least
// recently used first (see depot_gc.h). An ImageDepot pins every image it
// returned until it is destroyed.
//
// Registry tags are pinned in PROJECT_DIR/maelstrom-container-tags.lock (see
// tag_lock.h). Plain HTTP is used only for loopback registries and those in
// ImageOptions::insecure_registries (the clients' container-insecure-registries
// option) plus the comma-separated environment variable
// MAELSTROM_CONTAINER_INSECURE_REGISTRIES ("host[:port]" or "host" entries;
// read here too, so every tool honours it); TLS certificates of the listed
// registries are not verified either (those of loopback registries are,
// unless accept_invalid_certs).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/digest.h"

namespace mael {

struct ImageLayer {
  Digest digest;
  // The layer blob as stored (gzip, zstd or plain tar: libarchive auto-detects).
  // Still holds OCI whiteouts (.wh.NAME, .wh..wh..opq).
  std::filesystem::path tar_path;
};

struct ImageInfo {
  std::string name;                              // as given to get()
  Digest manifest_digest;                        // the image manifest chosen for this platform
  std::vector<ImageLayer> layers;                // bottom to top
  std::vector<std::string> environment;          // "K=V" from the config's Env
  std::optional<std::string> working_directory;  // config WorkingDir
};

// 4 GB: room for a handful of large images (a python:3 image is ~0.4 GB compressed).
inline constexpr uint64_t kDefaultDepotSizeLimit = 4'000'000'000;

struct ImageOptions {
  std::filesystem::path depot_root;  // empty = default_depot_root()
  // Holds the tags lock file; relative oci:/oci-archive:/docker-archive: paths
  // are taken relative to it too. Empty = no lock file, paths relative to cwd.
  std::filesystem::path project_dir;
  std::vector<std::string> insecure_registries;
  bool accept_invalid_certs = false;
  bool progress = true;  // progress bars on stderr when it is a terminal
  std::string platform;  // "os/arch[/variant]"; empty = this machine
  // Bytes of blobs the depot keeps beyond the images in use; 0 = no bound.
  uint64_t size_limit = kDefaultDepotSizeLimit;
};

// $XDG_CACHE_HOME/maelstrom/container, else ~/.cache/maelstrom/container (as Maelstrom).
std::filesystem::path default_depot_root();

class BlobStore;
class FileLock;
class ProgressBoard;
struct DockerRef;
struct LocalRef;

class ImageDepot {
 public:
  explicit ImageDepot(ImageOptions options);
  ~ImageDepot();
  ImageDepot(const ImageDepot&) = delete;
  ImageDepot& operator=(const ImageDepot&) = delete;

  // Thread-safe. Throws UserError "NAME: cause" (one line) for anything the
  // user can fix: bad name, unknown image or tag, no manifest for this
  // platform, wrong credentials, unreachable registry, digest mismatch,
  // corrupt archive, malformed lock file.
  ImageInfo get(const std::string& name);

  // Evicts unused images now if the depot is over its bound (get() does it
  // after each pull). Returns false when another thread or process was busy
  // pulling (it will evict when done).
  bool evict_if_needed();

 private:
  struct Fetched {
    ImageInfo info;
    std::string record;         // file name under images/
    std::vector<Digest> blobs;  // every blob the image needs; empty = record already saved
  };
  Fetched fetch(const std::string& name);
  Fetched fetch_docker(const std::string& name, const DockerRef& ref);
  void pin_locked(const std::string& record);

  ImageOptions options_;
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<ProgressBoard> board_;
  std::mutex mu_;
  std::map<std::string, ImageInfo> memo_;
  std::map<std::string, std::shared_ptr<std::mutex>> name_locks_;
  std::map<std::string, std::unique_ptr<FileLock>> pins_;  // record -> shared flock
};

}  // namespace mael
