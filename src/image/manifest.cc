#include "image/manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/input_limits.h"

namespace mael {
namespace {

using nlohmann::json;

// Parses a registry's or archive's JSON document `kind` ("manifest", "config") within the bounds:
// at most max_bytes, and limits::kMaxJsonDepth levels (deeper values are dropped as they are read,
// then refused). Malformed JSON gives a discarded value.
json parse_bounded(std::string_view body, size_t max_bytes, const std::string& what, const char* kind) {
  if (body.size() > max_bytes)
    throw UserError(what + ": " + kind + " of " + std::to_string(body.size()) + " bytes, more than " +
                    std::to_string(max_bytes >> 20) + " MiB (the limit)");
  bool too_deep = false;
  json j = json::parse(
      body,
      [&](int depth, json::parse_event_t, json&) {
        // depth counts from 0 at the top level
        if (depth < limits::kMaxJsonDepth) return true;
        too_deep = true;
        return false;
      },
      false);
  if (too_deep)
    throw UserError(what + ": " + kind + " nested more than " + std::to_string(limits::kMaxJsonDepth) +
                    " levels deep (the limit)");
  return j;
}

Descriptor parse_descriptor(const json& j, const std::string& what) {
  Descriptor d;
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string()) {
    throw UserError(what + ": descriptor without a digest");
  }
  std::string digest = j["digest"].get<std::string>();
  if (!digest.starts_with("sha256:")) {
    throw UserError(what + ": unsupported digest algorithm in " + digest + " (only sha256)");
  }
  d.digest = Digest::from_hex(digest);
  if (j.contains("mediaType") && j["mediaType"].is_string()) {
    d.media_type = j["mediaType"].get<std::string>();
  }
  if (j.contains("size") && j["size"].is_number_integer()) d.size = j["size"].get<int64_t>();
  if (j.contains("platform") && j["platform"].is_object()) {
    const json& p = j["platform"];
    Platform plat;
    plat.os = p.value("os", "");
    plat.architecture = p.value("architecture", "");
    plat.variant = p.value("variant", "");
    d.platform = plat;
  }
  if (j.contains("annotations") && j["annotations"].is_object()) {
    for (const auto& [k, v] : j["annotations"].items()) {
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
    }
  }
  return d;
}

// The variant uname implies where the architecture has variants that matter.
std::string default_variant(const std::string& arch) {
  if (arch == "arm64") return "v8";
  return "";
}

}  // namespace

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Platform host_platform() {
  utsname u{};
  check_sys(uname(&u), "uname");
  std::string m = u.machine;
  Platform p{"linux", m, ""};
  if (m == "x86_64") {
    p.architecture = "amd64";
  } else if (m == "aarch64" || m == "arm64") {
    p.architecture = "arm64";
    p.variant = "v8";
  } else if (m.starts_with("armv7")) {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (m.starts_with("armv6")) {
    p.architecture = "arm";
    p.variant = "v6";
  } else if (m == "i386" || m == "i686") {
    p.architecture = "386";
  } else if (m == "ppc64le") {
    p.architecture = "ppc64le";
  } else if (m == "s390x") {
    p.architecture = "s390x";
  } else if (m == "riscv64") {
    p.architecture = "riscv64";
  }
  return p;
}

Platform parse_platform(const std::string& s) {
  Platform p;
  size_t a = s.find('/');
  if (a == std::string::npos || a == 0) {
    throw UserError("invalid platform \"" + s + "\": expected OS/ARCH[/VARIANT]");
  }
  p.os = s.substr(0, a);
  size_t b = s.find('/', a + 1);
  p.architecture = s.substr(a + 1, b == std::string::npos ? b : b - a - 1);
  if (b != std::string::npos) p.variant = s.substr(b + 1);
  if (p.architecture.empty()) {
    throw UserError("invalid platform \"" + s + "\": expected OS/ARCH[/VARIANT]");
  }
  return p;
}

Manifest parse_manifest(std::string_view body, std::string_view content_type, const std::string& what) {
  json j = parse_bounded(body, limits::kMaxManifestBytes, what, "manifest");
  if (j.is_discarded() || !j.is_object()) throw UserError(what + ": manifest is not valid JSON");
  std::string media_type = j.value("mediaType", "");
  if (media_type.empty()) {
    std::string ct(content_type);
    if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
    if (ct.find("vnd.") != std::string::npos) media_type = ct;
  }
  if (media_type.starts_with("application/vnd.docker.distribution.manifest.v1") ||
      j.value("schemaVersion", 2) == 1) {
    throw UserError(what + ": Docker schema 1 manifests are not supported");
  }
  Manifest m;
  bool index_type = media_type == "application/vnd.oci.image.index.v1+json" ||
                    media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
  if (index_type || (media_type.empty() && j.contains("manifests"))) {
    m.is_index = true;
    if (!j.contains("manifests") || !j["manifests"].is_array()) {
      throw UserError(what + ": index without a manifests list");
    }
    for (const json& e : j["manifests"]) m.manifests.push_back(parse_descriptor(e, what));
    return m;
  }
  if (!media_type.empty() && media_type != "application/vnd.oci.image.manifest.v1+json" &&
      media_type != "application/vnd.docker.distribution.manifest.v2+json") {
    throw UserError(what + ": unsupported manifest media type " + media_type);
  }
  if (!j.contains("config") || !j.contains("layers") || !j["layers"].is_array()) {
    throw UserError(what + ": image manifest without config or layers");
  }
  m.config = parse_descriptor(j["config"], what);
  for (const json& l : j["layers"]) {
    Descriptor d = parse_descriptor(l, what);
    if (!d.media_type.empty() && d.media_type.find("tar") == std::string::npos) {
      throw UserError(what + ": unsupported layer media type " + d.media_type);
    }
    m.layers.push_back(std::move(d));
  }
  return m;
}

const Descriptor& select_platform(const std::vector<Descriptor>& entries, const Platform& want) {
  const Descriptor* loose = nullptr;
  std::string want_variant = want.variant.empty() ? default_variant(want.architecture) : want.variant;
  for (const Descriptor& d : entries) {
    if (!d.platform) continue;
    const Platform& p = *d.platform;
    if (p.os != want.os || p.architecture != want.architecture) continue;
    std::string v = p.variant.empty() ? default_variant(p.architecture) : p.variant;
    if (v == want_variant) return d;
    if (p.variant.empty() && loose == nullptr) loose = &d;
  }
  if (loose != nullptr) return *loose;
  std::string available;
  for (const Descriptor& d : entries) {
    if (!d.platform || d.platform->os == "unknown") continue;
    if (!available.empty()) available += ", ";
    available += d.platform->str();
  }
  if (available.empty()) available = "none";
  throw UserError("no manifest for platform " + want.str() + " (available: " + available + ")");
}

ImageConfig parse_image_config(std::string_view body, const std::string& what) {
  json j = parse_bounded(body, limits::kMaxImageConfigBytes, what, "config");
  if (j.is_discarded() || !j.is_object()) throw UserError(what + ": config is not valid JSON");
  ImageConfig c;
  if (j.contains("config") && j["config"].is_object()) {
    const json& cfg = j["config"];
    if (cfg.contains("Env") && cfg["Env"].is_array()) {
      for (const json& e : cfg["Env"]) {
        if (e.is_string()) c.environment.push_back(e.get<std::string>());
      }
    }
    if (cfg.contains("WorkingDir") && cfg["WorkingDir"].is_string()) {
      std::string wd = cfg["WorkingDir"].get<std::string>();
      if (!wd.empty()) c.working_directory = wd;
    }
  }
  return c;
}

}  // namespace mael
