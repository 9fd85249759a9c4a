#pragma once
// A client of one repository in a registry speaking the OCI Distribution /
// Docker Registry HTTP API v2: anonymous bearer tokens from the
// WWW-Authenticate challenge, basic and bearer credentials from the login
// files (see credentials.h), HTTPS, and plain HTTP only for loopback hosts
// and registries listed as insecure (TLS is tried first there too).
// Thread-safe; each thread passes its own HttpClient.
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/digest.h"
#include "base/error.h"
#include "image/credentials.h"
#include "image/http.h"
#include "image/image_name.h"
#include "image/manifest.h"

namespace mael {

struct RegistryOptions {
  bool accept_invalid_certs = false;
  std::vector<std::string> insecure_registries;  // "host[:port]" entries
};

// A manifest or blob the registry does not have (HTTP 404).
class RegistryNotFound : public UserError {
 public:
  using UserError::UserError;
};

// True for localhost, 127.0.0.0/8 and ::1 (with or without a port).
bool is_loopback_host(const std::string& host_port);

class RegistryClient {
 public:
  RegistryClient(DockerRef ref, RegistryOptions options);

  std::unique_ptr<HttpClient> make_http() const;

  struct FetchedManifest {
    std::string body;
    std::string content_type;
    Digest digest;  // of body; checked against the requested digest
  };
  // `reference` is a tag, or "sha256:HEX" (then the body is verified).
  FetchedManifest get_manifest(HttpClient& http, const std::string& reference);

  // Downloads the blob into `partial`, continuing after what it holds already
  // (HTTP Range; from the start when the registry ignores Range). Returns the
  // digest of the whole file. `progress` receives byte counts as they arrive
  // (negative when bytes are dropped). Retries transient failures (dropped
  // connections, HTTP 5xx) a few times, resuming; when a resumed file ends
  // with the wrong digest, downloads it once more from the start.
  Digest fetch_blob(HttpClient& http, const Digest& digest, const std::filesystem::path& partial,
                    const std::function<void(int64_t)>& progress);

  const std::string& host() const { return ref_.host; }

 private:
  HttpResponse send(HttpClient& http, HttpRequest request);
  HttpResponse send_once(HttpClient& http, const HttpRequest& request);
  bool authenticate(HttpClient& http, const std::string& challenge, const std::string& used);
  std::string base_url();
  [[noreturn]] void fail_status(const HttpResponse& r, const std::string& what) const;
  [[noreturn]] void fail_transport(const HttpTransportError& e) const;
  // `at` gets the partial file's size as it grows; `resumed` tells whether it
  // kept bytes of an earlier attempt.
  Digest fetch_blob_once(HttpClient& http, const Digest& digest, const std::filesystem::path& partial,
                         const std::function<void(int64_t)>& at, bool& resumed);

  DockerRef ref_;
  RegistryOptions options_;
  bool named_insecure_;      // listed in insecure_registries: plain HTTP, no TLS verification
  bool plain_http_allowed_;  // named insecure or loopback
  std::optional<Credentials> credentials_;
  std::mutex mu_;
  std::string scheme_;       // "" until decided
  std::string auth_header_;  // "Authorization: ..." or ""
  bool auth_attempted_ = false;
};

}  // namespace mael
