#include "image/image_depot.h"

#include <atomic>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/atomic_file.h"
#include "base/error.h"
#include "image/blob_store.h"
#include "image/depot_gc.h"
#include "image/image_name.h"
#include "image/local_image.h"
#include "image/manifest.h"
#include "image/progress.h"
#include "image/registry.h"
#include "image/tag_lock.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxParallelDownloads = 4;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string record_name(const Digest& top, const Platform& p) {
  std::string s = top.hex() + "_" + p.os + "_" + p.architecture;
  if (!p.variant.empty()) s += "_" + p.variant;
  return s + ".json";
}

std::optional<ImageInfo> load_record(const fs::path& path, const BlobStore& store) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    ImageInfo info;
    info.manifest_digest = Digest::from_hex(j.at("manifest").get<std::string>());
    for (const json& l : j.at("layers")) {
      Digest d = Digest::from_hex(l.get<std::string>());
      if (!store.has(d)) return std::nullopt;  // evicted: pull again
      info.layers.push_back({d, store.blob_path(d)});
    }
    info.environment = j.at("environment").get<std::vector<std::string>>();
    if (j.contains("working_directory") && j["working_directory"].is_string()) {
      info.working_directory = j["working_directory"].get<std::string>();
    }
    return info;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void save_record(const fs::path& path, const ImageInfo& info, const std::vector<Digest>& blobs) {
  json j;
  j["manifest"] = "sha256:" + info.manifest_digest.hex();
  j["layers"] = json::array();
  for (const auto& l : info.layers) j["layers"].push_back("sha256:" + l.digest.hex());
  j["blobs"] = json::array();
  for (const auto& b : blobs) j["blobs"].push_back("sha256:" + b.hex());
  j["environment"] = info.environment;
  if (info.working_directory) j["working_directory"] = *info.working_directory;
  write_file_atomically(path, j.dump(2) + "\n");  // readers see a whole record or none
}

}  // namespace

fs::path default_depot_root() {
  if (!env("XDG_CACHE_HOME").empty()) return fs::path(env("XDG_CACHE_HOME")) / "maelstrom" / "container";
  if (env("HOME").empty()) throw UserError("cannot find the image depot: set HOME or XDG_CACHE_HOME");
  return fs::path(env("HOME")) / ".cache" / "maelstrom" / "container";
}

ImageDepot::ImageDepot(ImageOptions options) : options_(std::move(options)) {
  if (options_.depot_root.empty()) options_.depot_root = default_depot_root();
  std::string extra = env("MAELSTROM_CONTAINER_INSECURE_REGISTRIES");
  std::stringstream ss(extra);
  for (std::string item; std::getline(ss, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) options_.insecure_registries.push_back(item);
  }
  try {
    store_ = std::make_unique<BlobStore>(options_.depot_root);
    fs::create_directories(options_.depot_root / "images");
    fs::create_directories(options_.depot_root / "pins");
  } catch (const fs::filesystem_error& e) {
    throw UserError("cannot use container image depot " + options_.depot_root.string() + ": " +
                    e.code().message() + "; pick another with --container-image-depot-root");
  }
  board_ = std::make_unique<ProgressBoard>(options_.progress);
}

ImageDepot::~ImageDepot() = default;

ImageInfo ImageDepot::get(const std::string& name) {
  std::shared_ptr<std::mutex> name_lock;
  {
    std::lock_guard lock(mu_);
    if (auto it = memo_.find(name); it != memo_.end()) return it->second;
    auto& l = name_locks_[name];
    if (!l) l = std::make_shared<std::mutex>();
    name_lock = l;
  }
  // One fetch per name at a time in this process; other processes are kept
  // apart by the flocks on the lock file and on each digest.
  std::lock_guard fetching(*name_lock);
  {
    std::lock_guard lock(mu_);
    if (auto it = memo_.find(name); it != memo_.end()) return it->second;
  }
  ImageInfo info;
  {
    // Eviction waits for no pull: it skips while any holds this shared lock.
    FileLock pulling(options_.depot_root / "locks" / "depot.lock", FileLock::Mode::kShared);
    Fetched f;
    try {
      f = fetch(name);
    } catch (const UserError& e) {
      std::string msg = e.what();
      if (!msg.starts_with(name)) msg = name + ": " + msg;
      throw UserError(msg);
    }
    fs::path record = options_.depot_root / "images" / f.record;
    if (f.blobs.empty()) {
      std::error_code ec;
      fs::last_write_time(record, fs::file_time_type::clock::now(), ec);  // last use, for LRU
    } else {
      save_record(record, f.info, f.blobs);
    }
    std::lock_guard lock(mu_);
    pin_locked(f.record);
    info = std::move(f.info);
  }
  info.name = name;
  {
    std::lock_guard lock(mu_);
    memo_[name] = info;
  }
  evict_if_needed();
  return info;
}

void ImageDepot::pin_locked(const std::string& record) {
  if (pins_.count(record)) return;
  std::string pin = record.substr(0, record.size() - std::string_view(".json").size());
  pins_[record] = std::make_unique<FileLock>(options_.depot_root / "pins" / pin, FileLock::Mode::kShared);
}

bool ImageDepot::evict_if_needed() {
  if (options_.size_limit == 0 || depot_blob_bytes(options_.depot_root) <= options_.size_limit) return true;
  auto lock = FileLock::try_exclusive(options_.depot_root / "locks" / "depot.lock");
  if (!lock) return false;
  evict_to_limit(options_.depot_root, options_.size_limit);
  return true;
}

ImageDepot::Fetched ImageDepot::fetch(const std::string& name) {
  ImageName parsed = parse_image_name(name);
  if (auto* docker = std::get_if<DockerRef>(&parsed)) return fetch_docker(name, *docker);
  LocalRef local = std::get<LocalRef>(parsed);
  if (local.path.is_relative()) {
    local.path = options_.project_dir.empty() ? fs::absolute(local.path) : options_.project_dir / local.path;
  }
  Platform platform = options_.platform.empty() ? host_platform() : parse_platform(options_.platform);
  Fetched f;
  f.info = import_local_image(local, *store_, platform);
  f.record = record_name(f.info.manifest_digest, platform);
  f.blobs.push_back(f.info.manifest_digest);  // a blob for OCI layouts only; missing ones are ignored
  for (const auto& l : f.info.layers) f.blobs.push_back(l.digest);
  return f;
}

ImageDepot::Fetched ImageDepot::fetch_docker(const std::string& name, const DockerRef& ref) {
  Platform platform = options_.platform.empty() ? host_platform() : parse_platform(options_.platform);
  RegistryOptions ropts{options_.accept_invalid_certs, options_.insecure_registries};
  std::unique_ptr<RegistryClient> client;
  std::unique_ptr<HttpClient> http;
  auto connect = [&] {
    if (!client) {
      client = std::make_unique<RegistryClient>(ref, ropts);
      http = client->make_http();
    }
  };

  // 1. The top digest: given, pinned in the lock file, or resolved now.
  Digest top;
  bool pinned = false;
  fs::path lock_path = options_.project_dir / kTagLockFileName;
  if (ref.digest) {
    top = *ref.digest;
  } else {
    std::optional<TagLockFile> lock_file;
    if (!options_.project_dir.empty()) lock_file.emplace(lock_path);
    std::optional<Digest> locked =
        lock_file ? lock_file->get(ref.lock_key, ref.tag_or_latest()) : std::nullopt;
    if (locked) {
      top = *locked;
      pinned = true;
    } else {
      connect();
      auto m = client->get_manifest(*http, ref.tag_or_latest());
      store_->put(m.digest, m.body, "manifest");
      top = m.digest;
      if (lock_file) lock_file->set(ref.lock_key, ref.tag_or_latest(), top);
    }
  }

  // 2. Already in the depot?
  Fetched result;
  result.record = record_name(top, platform);
  fs::path record = options_.depot_root / "images" / result.record;
  if (auto info = load_record(record, *store_)) {
    result.info = std::move(*info);
    return result;
  }
  result.blobs.push_back(top);

  // 3. Manifests and config (kept in the blob store, so a re-pull after an
  // interruption does not fetch them again).
  auto manifest_body = [&](const Digest& d) {
    if (!store_->has(d)) {
      connect();
      try {
        auto m = client->get_manifest(*http, "sha256:" + d.hex());
        store_->put(d, m.body, "manifest sha256:" + d.hex());
      } catch (const RegistryNotFound& e) {
        if (pinned && d == top) {
          throw UserError(std::string(e.what()) + "; it is pinned in " + lock_path.string() +
                          ": delete that line to resolve the tag again");
        }
        throw;
      }
    }
    return store_->read(d);
  };
  Digest manifest_digest = top;
  Manifest m = parse_manifest(manifest_body(top), "", "manifest sha256:" + top.hex());
  for (int depth = 0; m.is_index; ++depth) {
    if (depth > 4) throw UserError("image indexes nested too deeply");
    manifest_digest = select_platform(m.manifests, platform).digest;
    result.blobs.push_back(manifest_digest);
    m = parse_manifest(manifest_body(manifest_digest), "", "manifest sha256:" + manifest_digest.hex());
  }
  auto fetch_blob = [&](HttpClient& h, const Descriptor& d, const std::string& what,
                        const std::function<void(int64_t)>& progress) {
    return store_->ensure(
        d.digest, [&](const fs::path& partial) { return client->fetch_blob(h, d.digest, partial, progress); },
        what);
  };
  if (!store_->has(m.config.digest)) connect();
  if (client) fetch_blob(*http, m.config, "config sha256:" + m.config.digest.hex(), nullptr);
  ImageConfig config =
      parse_image_config(store_->read(m.config.digest), "config sha256:" + m.config.digest.hex());

  // 4. Layers, several at a time.
  std::vector<const Descriptor*> missing;
  for (const Descriptor& l : m.layers) {
    if (!store_->has(l.digest)) missing.push_back(&l);
  }
  if (!missing.empty()) {
    connect();
    auto bar = board_->start(name);
    for (const Descriptor* d : missing) bar->add_total(d->size > 0 ? d->size : 0);
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mu;
    std::exception_ptr error;
    auto worker = [&](HttpClient* h) {
      std::unique_ptr<HttpClient> own;
      if (h == nullptr) {
        own = client->make_http();
        h = own.get();
      }
      while (!failed) {
        size_t i = next++;
        if (i >= missing.size()) break;
        try {
          fetch_blob(*h, *missing[i], "layer sha256:" + missing[i]->digest.hex(),
                     [&](int64_t n) { bar->add_done(n); });
        } catch (...) {
          std::lock_guard lock(error_mu);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
    };
    size_t n_threads = std::min(kMaxParallelDownloads, missing.size());
    std::vector<std::thread> threads;
    for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker, nullptr);
    worker(http.get());
    for (auto& t : threads) t.join();
    board_->finish(bar);
    if (error) std::rethrow_exception(error);
  }

  ImageInfo& info = result.info;
  info.manifest_digest = manifest_digest;
  for (const Descriptor& l : m.layers) info.layers.push_back({l.digest, store_->blob_path(l.digest)});
  info.environment = config.environment;
  info.working_directory = config.working_directory;
  result.blobs.push_back(m.config.digest);
  for (const Descriptor& l : m.layers) result.blobs.push_back(l.digest);
  return result;
}

}  // namespace mael
