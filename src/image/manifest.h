#pragma once
// OCI / Docker v2 manifests, indexes and image configs, and platform selection.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/digest.h"

namespace mael {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;      // may be empty
  std::string str() const;  // "linux/arm64/v8"
};

// The platform of this machine (os linux, architecture from uname).
Platform host_platform();
// Parses "os/arch[/variant]". Throws UserError.
Platform parse_platform(const std::string& s);

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = -1;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  bool is_index = false;
  std::vector<Descriptor> manifests;  // index only
  Descriptor config;                  // image manifest only
  std::vector<Descriptor> layers;     // image manifest only, bottom to top
};

inline constexpr std::string_view kAcceptManifests =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// Parses a manifest or index. `content_type` may be empty. Throws UserError
// (prefixed by `what`) for malformed or unsupported documents.
Manifest parse_manifest(std::string_view body, std::string_view content_type, const std::string& what);

// Picks the entry of an index for `want`. Throws UserError listing the
// platforms available when none matches.
const Descriptor& select_platform(const std::vector<Descriptor>& entries, const Platform& want);

struct ImageConfig {
  std::vector<std::string> environment;
  std::optional<std::string> working_directory;
};
ImageConfig parse_image_config(std::string_view body, const std::string& what);

}  // namespace mael
