#pragma once
// Registry credentials from the files docker and podman write on login:
//   $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
//   $DOCKER_CONFIG/config.json (default ~/.docker/config.json)
// The first file with an entry for the registry wins. In each file, a
// credential helper (credential_helper.h) named for the registry in
// "credHelpers" {"HOST[:PORT]": "NAME"} is asked first, then the one in
// "credsStore": "NAME"; when they have nothing for the registry, entries are
// looked up under
// "auths": {"HOST[:PORT][/REPO...]": {...}} with, as docker reads them (first
// match wins): "identitytoken" (an OAuth2 refresh token traded at the
// registry's token service for access tokens), "registrytoken" (a bearer
// token sent to the registry as is), "auth" (base64 of "user:password"), or
// "username" and "password".
#include <optional>
#include <string>

namespace mael {

struct Credentials {
  std::string username;
  std::string password;
  std::string bearer_token;    // "registrytoken"
  std::string identity_token;  // "identitytoken"
};

// `host` as in DockerRef::host ("registry-1.docker.io" for Docker Hub).
std::optional<Credentials> find_credentials(const std::string& host, const std::string& repository);


}  // namespace mael
