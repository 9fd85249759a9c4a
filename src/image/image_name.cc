#include "image/image_name.h"

#include <algorithm>

#include "base/error.h"

namespace mael {
namespace {

constexpr std::string_view kDockerHubHost = "registry-1.docker.io";

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

[[noreturn]] void bad(const std::string& name, const std::string& why) {
  throw UserError("invalid image name \"" + name + "\": " + why);
}

DockerRef parse_docker(const std::string& full, std::string rest) {
  DockerRef ref;
  if (auto at = rest.find('@'); at != std::string::npos) {
    std::string digest = rest.substr(at + 1);
    rest.resize(at);
    if (!digest.starts_with("sha256:") || digest.size() != 7 + 64) {
      bad(full, "digest must be sha256: followed by 64 hex digits");
    }
    try {
      ref.digest = Digest::from_hex(digest);
    } catch (const UserError&) {
      bad(full, "digest must be sha256: followed by 64 hex digits");
    }
  }
  // A ':' after the last '/' starts the tag (a ':' before it is a port).
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.find(':', last_slash == std::string::npos ? 0 : last_slash);
  if (colon != std::string::npos) {
    std::string tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (tag.empty() || !std::all_of(tag.begin(), tag.end(), is_name_char)) {
      bad(full, "tag must be letters, digits, '_', '.' or '-'");
    }
    ref.tag = tag;
  }
  if (rest.empty()) bad(full, "missing repository name");
  ref.lock_key = rest;
  std::string path = rest;
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string first = rest.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
        first == "localhost") {
      ref.host = first;
      path = rest.substr(slash + 1);
    }
  }
  if (ref.host == "docker.io" || ref.host == "index.docker.io") ref.host.clear();
  if (ref.host.empty()) {
    ref.docker_hub = true;
    ref.host = kDockerHubHost;
    if (path.find('/') == std::string::npos) path = "library/" + path;
  }
  // Each path component: lower-case letters, digits and separators.
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    std::string comp = path.substr(start, end == std::string::npos ? end : end - start);
    if (comp.empty() || !std::all_of(comp.begin(), comp.end(), is_name_char)) {
      bad(full, "repository components must be non-empty letters, digits, '_', '.' or '-'");
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ref.repository = path;
  return ref;
}

LocalRef parse_local(const std::string& full, LocalRef::Kind kind, const std::string& rest) {
  LocalRef ref{kind, {}, {}};
  size_t colon = rest.find(':');
  ref.path = rest.substr(0, colon);
  if (colon != std::string::npos) ref.reference = rest.substr(colon + 1);
  if (ref.path.empty()) bad(full, "missing path");
  return ref;
}

}  // namespace

ImageName parse_image_name(const std::string& name) {
  auto strip = [&](std::string_view prefix, std::string* rest) {
    if (!name.starts_with(prefix)) return false;
    *rest = name.substr(prefix.size());
    return true;
  };
  std::string rest;
  if (strip("docker://", &rest)) return parse_docker(name, rest);
  if (strip("oci:", &rest)) return parse_local(name, LocalRef::Kind::kOciDir, rest);
  if (strip("oci-archive:", &rest)) return parse_local(name, LocalRef::Kind::kOciArchive, rest);
  if (strip("docker-archive:", &rest)) {
    return parse_local(name, LocalRef::Kind::kDockerArchive, rest);
  }
  bad(name, "use docker://NAME[:TAG], oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE");
}

}  // namespace mael
