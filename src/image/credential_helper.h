#pragma once
// Docker credential helpers (`credsStore` and `credHelpers` in
// ~/.docker/config.json): the program docker-credential-NAME, found on PATH,
// run as `docker-credential-NAME get` with the registry's server address on
// stdin, answers {"ServerURL": ..., "Username": ..., "Secret": ...} on
// stdout. Username "<token>" means Secret is an identity (refresh) token.
#include <chrono>
#include <optional>
#include <string>

#include "image/credentials.h"

namespace mael {

// The address docker hands helpers for `host`: "https://index.docker.io/v1/"
// for Docker Hub, the host (with its port) otherwise.
std::string credential_helper_server_url(const std::string& host);

// Runs docker-credential-`helper` for `host`. nullopt when the helper has no
// credentials for it. Throws a one-line UserError naming the helper, the
// registry and `origin` (where the helper was configured) when the helper is
// missing, fails, answers something that is not its JSON, or has not answered within `timeout`
// (it is killed then).
constexpr std::chrono::milliseconds kCredentialHelperTimeout{30'000};
std::optional<Credentials> run_credential_helper(const std::string& helper, const std::string& host,
                                                 const std::string& origin,
                                                 std::chrono::milliseconds timeout = kCredentialHelperTimeout);

}  // namespace mael
