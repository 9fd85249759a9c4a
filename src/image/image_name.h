#pragma once
// Parsing of container image names: docker://, oci:, oci-archive:, docker-archive:.
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

#include "base/digest.h"

namespace mael {

// A reference to an image in a registry (docker://NAME[:TAG][@sha256:HEX]).
struct DockerRef {
  // Host (with optional :port) to connect to; "registry-1.docker.io" for Docker Hub.
  std::string host;
  // Repository path within the registry, e.g. "library/alpine".
  std::string repository;
  std::optional<std::string> tag;
  std::optional<Digest> digest;
  // The name as written without tag and digest ("alpine", "localhost:5000/foo"):
  // the table name in the tags lock file.
  std::string lock_key;
  bool docker_hub = false;

  std::string tag_or_latest() const { return tag.value_or("latest"); }
};

// An image on the local disk.
struct LocalRef {
  enum class Kind { kOciDir, kOciArchive, kDockerArchive };
  Kind kind;
  std::filesystem::path path;
  // Text after the first ':' following the path; empty when absent.
  std::string reference;
};

using ImageName = std::variant<DockerRef, LocalRef>;

// Throws UserError naming `name` when it is not a valid image name.
ImageName parse_image_name(const std::string& name);

}  // namespace mael
