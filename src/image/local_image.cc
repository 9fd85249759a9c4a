#include "image/local_image.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/tar_reader.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRefName = "org.opencontainers.image.ref.name";

std::string read_file(const fs::path& p, const std::string& what) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw UserError(what + " missing: " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A path from an archive's manifest, kept inside `root`.
fs::path inside(const fs::path& root, const std::string& rel, const std::string& file) {
  fs::path p = fs::path(rel).lexically_normal();
  if (p.is_absolute() || rel.empty() || *p.begin() == "..") {
    throw UserError("corrupt archive " + file + ": path " + rel + " leaves the archive");
  }
  return root / p;
}

// Moves (when `owned`, i.e. our scratch copy) or copies a file into the store.
fs::path import_file(BlobStore& store, const fs::path& src, const Digest& d, bool owned,
                     const std::string& what) {
  return store.ensure(
      d,
      [&](const fs::path& partial) {
        if (!fs::exists(src)) throw UserError(what + " missing: " + src.string());
        if (owned) {
          fs::rename(src, partial);
          return Digest::of_file(partial);
        }
        return copy_and_hash(src, partial);
      },
      what);
}

ImageInfo finish(const Digest& manifest_digest, const std::vector<ImageLayer>& layers,
                 const ImageConfig& config) {
  ImageInfo info;
  info.manifest_digest = manifest_digest;
  info.layers = layers;
  info.environment = config.environment;
  info.working_directory = config.working_directory;
  return info;
}

// Reads an OCI image layout rooted at `dir` (`owned`: a scratch copy we may move from).
ImageInfo import_layout(const fs::path& dir, const std::string& reference, BlobStore& store,
                        const Platform& platform, bool owned, const std::string& source) {
  fs::path index_path = dir / "index.json";
  if (!fs::exists(index_path)) {
    throw UserError(source + " is not an OCI image layout (no index.json)");
  }
  auto blob_path = [&](const Digest& d) { return dir / "blobs" / "sha256" / d.hex(); };
  auto read_blob = [&](const Descriptor& d, const std::string& what) {
    std::string body = read_file(blob_path(d.digest), "blob sha256:" + d.digest.hex() + " (" + what + ")");
    if (Digest::of_bytes(body) != d.digest) {
      throw UserError(source + ": " + what + " sha256:" + d.digest.hex() + ": digest mismatch");
    }
    return body;
  };
  Manifest index = parse_manifest(read_file(index_path, "index.json"), "", source + " index.json");
  if (!index.is_index) throw UserError(source + ": index.json is not an image index");
  std::string available;
  for (const Descriptor& d : index.manifests) {
    auto it = d.annotations.find(kRefName);
    if (it == d.annotations.end()) continue;
    if (!available.empty()) available += ", ";
    available += it->second;
  }
  const Descriptor* chosen = nullptr;
  if (!reference.empty()) {
    for (const Descriptor& d : index.manifests) {
      auto it = d.annotations.find(kRefName);
      if (it != d.annotations.end() && it->second == reference) chosen = &d;
    }
    if (chosen == nullptr) {
      throw UserError("tag " + reference + " not found in " + source +
                      " (available: " + (available.empty() ? "none" : available) + ")");
    }
  } else if (index.manifests.size() == 1) {
    chosen = &index.manifests[0];
  } else if (!index.manifests.empty() &&
             std::all_of(index.manifests.begin(), index.manifests.end(),
                         [](const Descriptor& d) { return d.platform.has_value(); })) {
    chosen = &select_platform(index.manifests, platform);
  } else {
    throw UserError(source + " holds " + std::to_string(index.manifests.size()) + " images; name one as " +
                    source + ":REF (available: " + (available.empty() ? "none" : available) + ")");
  }
  Descriptor desc = *chosen;
  Manifest m = parse_manifest(read_blob(desc, "manifest"), desc.media_type, source);
  for (int depth = 0; m.is_index; ++depth) {
    if (depth > 4) throw UserError(source + ": indexes nested too deeply");
    desc = select_platform(m.manifests, platform);
    m = parse_manifest(read_blob(desc, "manifest"), desc.media_type, source);
  }
  ImageConfig config = parse_image_config(read_blob(m.config, "config"), source);
  store.put(desc.digest, read_blob(desc, "manifest"), source + " manifest");
  std::vector<ImageLayer> layers;
  for (const Descriptor& l : m.layers) {
    fs::path p =
        import_file(store, blob_path(l.digest), l.digest, owned, source + " layer sha256:" + l.digest.hex());
    layers.push_back({l.digest, p});
  }
  return finish(desc.digest, layers, config);
}

ImageInfo import_docker_archive(const fs::path& dir, const std::string& reference, BlobStore& store,
                                const std::string& source, const std::string& file) {
  json manifest = json::parse(read_file(dir / "manifest.json", source + " manifest.json"), nullptr, false);
  if (manifest.is_discarded() || !manifest.is_array() || manifest.empty()) {
    throw UserError("corrupt archive " + file + ": manifest.json is not a list of images");
  }
  const json* entry = nullptr;
  std::string available;
  for (const json& e : manifest) {
    if (!e.is_object()) continue;
    if (e.contains("RepoTags") && e["RepoTags"].is_array()) {
      for (const json& t : e["RepoTags"]) {
        if (!t.is_string()) continue;
        std::string tag = t.get<std::string>();
        if (!available.empty()) available += ", ";
        available += tag;
        if (!reference.empty()) {
          for (const char* p : {"", "docker.io/", "docker.io/library/"}) {
            std::string prefix = p;
            if (tag == prefix + reference || tag == prefix + reference + ":latest") entry = &e;
          }
        }
      }
    }
  }
  if (!reference.empty() && entry == nullptr) {
    throw UserError("tag " + reference + " not found in " + source +
                    " (available: " + (available.empty() ? "none" : available) + ")");
  }
  if (entry == nullptr) {
    if (manifest.size() != 1) {
      throw UserError(source + " holds " + std::to_string(manifest.size()) + " images; name one as " +
                      source + ":NAME:TAG (available: " + available + ")");
    }
    entry = &manifest[0];
  }
  if (!entry->contains("Config") || !(*entry)["Config"].is_string() || !entry->contains("Layers") ||
      !(*entry)["Layers"].is_array()) {
    throw UserError("corrupt archive " + file + ": manifest.json entry without Config or Layers");
  }
  // Files named blobs/sha256/HEX must hash to HEX.
  auto check_name = [&](const std::string& rel, const Digest& got) {
    if (rel.starts_with("blobs/sha256/")) {
      std::string hex = rel.substr(13);
      if (hex != got.hex()) {
        throw UserError(source + ": " + rel + ": digest mismatch (got sha256:" + got.hex() + ")");
      }
    }
  };
  std::string config_rel = (*entry)["Config"].get<std::string>();
  std::string config_body = read_file(inside(dir, config_rel, file), source + " config");
  Digest config_digest = Digest::of_bytes(config_body);
  check_name(config_rel, config_digest);
  ImageConfig config = parse_image_config(config_body, source);
  std::vector<ImageLayer> layers;
  for (const json& l : (*entry)["Layers"]) {
    if (!l.is_string()) throw UserError("corrupt archive " + file + ": bad Layers entry");
    std::string rel = l.get<std::string>();
    fs::path p = inside(dir, rel, file);
    if (!fs::is_regular_file(p)) throw UserError("corrupt archive " + file + ": missing " + rel);
    Digest d = Digest::of_file(p);
    check_name(rel, d);
    layers.push_back({d, import_file(store, p, d, true, source + " layer " + rel)});
  }
  return finish(Digest::of_bytes(entry->dump()), layers, config);
}

}  // namespace

void extract_archive(const fs::path& file, const fs::path& dest) {
  if (!fs::is_regular_file(file)) throw UserError("archive " + file.string() + " not found");
  archive* a = new_tar_reader();
  struct Closer {
    archive* a;
    ~Closer() { archive_read_free(a); }
  } closer{a};
  auto corrupt = [&](const std::string& why) {
    throw UserError("corrupt archive " + file.string() + ": " + why);
  };
  if (archive_read_open_filename(a, file.c_str(), 1 << 20) != ARCHIVE_OK) {
    corrupt(archive_error_string(a) ? archive_error_string(a) : "cannot open");
  }
  archive_entry* entry;
  std::string buf(1 << 20, '\0');
  size_t entries = 0;
  std::vector<std::pair<fs::path, std::string>> links;  // (link, target inside the archive)
  while (true) {
    int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) corrupt(archive_error_string(a) ? archive_error_string(a) : "bad header");
    ++entries;
    std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    while (name.starts_with("./")) name = name.substr(2);
    if (name.empty() || name == ".") continue;
    fs::path target = inside(dest, name, file.string());
    mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      fs::create_directories(target);
      continue;
    }
    if (type == AE_IFLNK && archive_entry_symlink(entry) != nullptr) {
      // docker save links <id>/layer.tar to a shared file; resolved below.
      links.emplace_back(
          target, (fs::path(name).parent_path() / archive_entry_symlink(entry)).lexically_normal().string());
      continue;
    }
    if (type == AE_IFREG && archive_entry_hardlink(entry) != nullptr) {
      links.emplace_back(target, archive_entry_hardlink(entry));
      continue;
    }
    if (type != AE_IFREG) continue;  // layouts hold only files and directories
    fs::create_directories(target.parent_path());
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot create " + target.string());
    while (true) {
      la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0) corrupt(archive_error_string(a) ? archive_error_string(a) : "bad data");
      if (n == 0) break;
      out.write(buf.data(), n);
    }
    out.close();
    if (!out) throw std::runtime_error("cannot write " + target.string());
  }
  if (entries == 0) corrupt("empty or not a tar file");
  // Links become hard links to files of the archive (never to outside files).
  for (const auto& [link, rel] : links) {
    fs::path target = inside(dest, rel, file.string());
    if (!fs::is_regular_file(fs::symlink_status(target))) continue;
    fs::create_directories(link.parent_path());
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_hard_link(target, link);
  }
}

ImageInfo import_local_image(const LocalRef& ref, BlobStore& store, const Platform& platform) {
  std::string file = ref.path.string();
  switch (ref.kind) {
    case LocalRef::Kind::kOciDir:
      if (!fs::is_directory(ref.path)) throw UserError("OCI layout directory " + file + " not found");
      return import_layout(ref.path, ref.reference, store, platform, false, "oci:" + file);
    case LocalRef::Kind::kOciArchive: {
      TempDir tmp(store.make_temp_dir());
      extract_archive(ref.path, tmp.path());
      return import_layout(tmp.path(), ref.reference, store, platform, true, "oci-archive:" + file);
    }
    case LocalRef::Kind::kDockerArchive: {
      TempDir tmp(store.make_temp_dir());
      extract_archive(ref.path, tmp.path());
      return import_docker_archive(tmp.path(), ref.reference, store, "docker-archive:" + file, file);
    }
  }
  throw std::logic_error("unknown local image kind");
}

}  // namespace mael
