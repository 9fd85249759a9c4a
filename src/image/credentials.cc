#include "image/credentials.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "base/base64.h"
#include "base/error.h"
#include "image/credential_helper.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool is_docker_hub(const std::string& host) {
  return host == "registry-1.docker.io" || host == "docker.io" || host == "index.docker.io";
}

// "https://index.docker.io/v1/" -> "index.docker.io"; "host/ns/repo" kept.
std::string normalize_key(std::string key) {
  for (const char* scheme : {"https://", "http://"}) {
    if (key.starts_with(scheme)) key = key.substr(std::string_view(scheme).size());
  }
  while (!key.empty() && key.back() == '/') key.pop_back();
  for (const char* suffix : {"/v1", "/v2"}) {
    if (key.ends_with(suffix)) key.resize(key.size() - std::string_view(suffix).size());
  }
  return key;
}

// Length of the match of `key` against host/repository (0 = none).
size_t match(const std::string& key, const std::string& host, const std::string& repository) {
  std::string k = normalize_key(key);
  std::string k_host = k.substr(0, k.find('/'));
  std::string k_path = k.find('/') == std::string::npos ? "" : k.substr(k.find('/') + 1);
  bool host_ok = k_host == host || (is_docker_hub(k_host) && is_docker_hub(host));
  if (!host_ok) return 0;
  if (k_path.empty()) return 1;
  if (repository == k_path || repository.starts_with(k_path + "/")) return 1 + k_path.size();
  return 0;
}

std::optional<Credentials> from_file(const fs::path& file, const std::string& host,
                                     const std::string& repository) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) throw UserError("credentials file " + file.string() + " is not valid JSON");
  if (!j.is_object()) return std::nullopt;
  // Credential helpers first, as docker does: the one for this registry, then the default store.
  // A helper that has nothing for the registry leaves the "auths" entries to answer.
  bool own_helper = false;
  if (j.contains("credHelpers") && j["credHelpers"].is_object()) {
    for (const auto& [k, v] : j["credHelpers"].items()) {
      if (!v.is_string() || match(k, host, "") != 1) continue;
      own_helper = true;
      if (auto c = run_credential_helper(v.get<std::string>(), host, "credHelpers in " + file.string())) {
        return c;
      }
      break;
    }
  }
  if (!own_helper && j.contains("credsStore") && j["credsStore"].is_string() && !j["credsStore"].get<std::string>().empty()) {
    if (auto c = run_credential_helper(j["credsStore"].get<std::string>(), host, "credsStore in " + file.string())) {
      return c;
    }
  }
  if (!j.contains("auths") || !j["auths"].is_object()) return std::nullopt;
  const json* best = nullptr;
  size_t best_len = 0;
  for (const auto& [k, v] : j["auths"].items()) {
    size_t m = match(k, host, repository);
    if (m > best_len && v.is_object()) {
      best = &v;
      best_len = m;
    }
  }
  if (best == nullptr) return std::nullopt;
  Credentials c;
  if (best->contains("identitytoken") && (*best)["identitytoken"].is_string()) {
    c.identity_token = (*best)["identitytoken"].get<std::string>();
    if (!c.identity_token.empty()) return c;
  }
  if (best->contains("registrytoken") && (*best)["registrytoken"].is_string()) {
    c.bearer_token = (*best)["registrytoken"].get<std::string>();
    if (!c.bearer_token.empty()) return c;
  }
  if (best->contains("auth") && (*best)["auth"].is_string()) {
    std::string decoded = base64_decode((*best)["auth"].get<std::string>());
    size_t colon = decoded.find(':');
    if (colon == std::string::npos) {
      throw UserError("credentials file " + file.string() + ": \"auth\" for " + host +
                      " is not base64 of user:password");
    }
    c.username = decoded.substr(0, colon);
    c.password = decoded.substr(colon + 1);
    return c;
  }
  if (best->contains("username") && best->contains("password")) {
    c.username = (*best).value("username", "");
    c.password = (*best).value("password", "");
    return c;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Credentials> find_credentials(const std::string& host, const std::string& repository) {
  std::vector<fs::path> files;
  if (!env("REGISTRY_AUTH_FILE").empty()) files.emplace_back(env("REGISTRY_AUTH_FILE"));
  if (!env("XDG_RUNTIME_DIR").empty()) {
    files.push_back(fs::path(env("XDG_RUNTIME_DIR")) / "containers" / "auth.json");
  }
  if (!env("DOCKER_CONFIG").empty()) {
    files.push_back(fs::path(env("DOCKER_CONFIG")) / "config.json");
  } else if (!env("HOME").empty()) {
    files.push_back(fs::path(env("HOME")) / ".docker" / "config.json");
  }
  for (const fs::path& f : files) {
    if (auto c = from_file(f, host, repository)) return c;
  }
  return std::nullopt;
}

}  // namespace mael
