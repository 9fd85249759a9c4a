#include "image/registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/base64.h"
#include "base/error.h"
#include "base/fd_io.h"
#include "base/unique_fd.h"

namespace mael {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string strip_port(const std::string& host_port) {
  if (host_port.starts_with("[")) {
    size_t end = host_port.find(']');
    return host_port.substr(1, end == std::string::npos ? end : end - 1);
  }
  if (std::count(host_port.begin(), host_port.end(), ':') > 1) return host_port;  // bare IPv6
  return host_port.substr(0, host_port.find(':'));
}

// Parses `Scheme k="v",k2="v2"` into the scheme and its parameters.
std::pair<std::string, std::map<std::string, std::string>> parse_challenge(const std::string& h) {
  std::map<std::string, std::string> params;
  size_t sp = h.find(' ');
  std::string scheme = h.substr(0, sp);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  size_t i = sp == std::string::npos ? h.size() : sp + 1;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) ++i;
    size_t eq = h.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = h.substr(i, eq - i);
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    std::string value;
    i = eq + 1;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value += h[i++];
      }
      ++i;
    } else {
      while (i < h.size() && h[i] != ',') value += h[i++];
    }
    params[key] = value;
  }
  return {scheme, params};
}

// The "message" of the first error in a registry's JSON error body, if any.
std::pair<std::string, std::string> registry_error(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const json& e = j["errors"][0];
    if (e.is_object()) return {e.value("code", ""), e.value("message", "")};
  }
  return {"", ""};
}

// A failure that may go away on retry (dropped connection, HTTP 5xx).
class TransientError : public UserError {
 public:
  using UserError::UserError;
};

}  // namespace

bool is_loopback_host(const std::string& host_port) {
  std::string h = strip_port(host_port);
  return h == "localhost" || h == "::1" || h.starts_with("127.");
}

RegistryClient::RegistryClient(DockerRef ref, RegistryOptions options)
    : ref_(std::move(ref)), options_(std::move(options)) {
  const auto& insecure = options_.insecure_registries;
  named_insecure_ = std::find(insecure.begin(), insecure.end(), ref_.host) != insecure.end() ||
                    std::find(insecure.begin(), insecure.end(), strip_port(ref_.host)) != insecure.end();
  plain_http_allowed_ = named_insecure_ || is_loopback_host(ref_.host);
  if (!plain_http_allowed_) scheme_ = "https";
  credentials_ = find_credentials(ref_.host, ref_.repository);
  if (credentials_ && !credentials_->bearer_token.empty()) {
    auth_header_ = "Authorization: Bearer " + credentials_->bearer_token;
  }
}

std::unique_ptr<HttpClient> RegistryClient::make_http() const {
  // Loopback registries may speak plain HTTP, but when they speak TLS their
  // certificate is checked like any other's.
  return std::make_unique<HttpClient>(!(options_.accept_invalid_certs || named_insecure_));
}

std::string RegistryClient::base_url() {
  std::lock_guard lock(mu_);
  return (scheme_.empty() ? "https" : scheme_) + "://" + ref_.host + "/v2/" + ref_.repository;
}

HttpResponse RegistryClient::send_once(HttpClient& http, const HttpRequest& request) {
  try {
    return http.perform(request);
  } catch (const HttpTransportError& e) {
    bool undecided;
    {
      std::lock_guard lock(mu_);
      undecided = scheme_.empty();
    }
    // A plain-HTTP registry answers a TLS handshake with garbage: fall back.
    // (Not when it spoke TLS with a certificate we refused.)
    if (undecided && plain_http_allowed_ && !e.connection_refused && !e.tls_untrusted &&
        request.url.starts_with("https://")) {
      {
        std::lock_guard lock(mu_);
        scheme_ = "http";
      }
      HttpRequest plain = request;
      plain.url = "http://" + request.url.substr(8);
      return http.perform(plain);
    }
    throw;
  }
}

HttpResponse RegistryClient::send(HttpClient& http, HttpRequest request) {
  std::vector<std::string> base_headers = request.headers;
  for (int attempt = 0;; ++attempt) {
    std::string used;
    {
      std::lock_guard lock(mu_);
      used = auth_header_;
    }
    request.headers = base_headers;
    if (!used.empty()) request.headers.push_back(used);
    HttpResponse r;
    try {
      r = send_once(http, request);
    } catch (const HttpTransportError& e) {
      fail_transport(e);
    }
    {
      std::lock_guard lock(mu_);
      if (scheme_.empty()) scheme_ = request.url.substr(0, request.url.find(':'));
      if (scheme_ == "http" && request.url.starts_with("https://")) {
        request.url = "http://" + request.url.substr(8);
      }
    }
    if (r.status != 401 || attempt > 0) return r;
    if (!authenticate(http, r.header("www-authenticate"), used)) return r;
  }
}

bool RegistryClient::authenticate(HttpClient& http, const std::string& challenge, const std::string& used) {
  std::lock_guard lock(mu_);
  if (auth_header_ != used) return true;  // another thread authenticated meanwhile
  // A "registrytoken" from the login files is final: the registry refused it.
  if (credentials_ && !credentials_->bearer_token.empty()) return false;
  auto [scheme, params] = parse_challenge(challenge);
  bool has_password = credentials_ && !credentials_->username.empty();
  if (scheme == "basic") {
    if (!has_password) {
      throw UserError("registry " + ref_.host +
                      " requires a user name and password: log in with `docker login " + ref_.host +
                      "` (or podman login)");
    }
    auth_attempted_ = true;
    auth_header_ =
        "Authorization: Basic " + base64_encode(credentials_->username + ":" + credentials_->password);
    return true;
  }
  if (scheme != "bearer" || params["realm"].empty()) return false;
  // The token service (Docker's token auth): anonymous or with basic
  // credentials by GET, or trading an identity (refresh) token by POST.
  std::string query;
  if (!params["service"].empty()) query += "service=" + url_encode(params["service"]);
  std::string scopes = params["scope"].empty() ? "repository:" + ref_.repository + ":pull" : params["scope"];
  std::stringstream ss(scopes);
  for (std::string scope; std::getline(ss, scope, ' ');) {
    if (!scope.empty()) query += (query.empty() ? "" : "&") + ("scope=" + url_encode(scope));
  }
  const std::string& realm = params["realm"];
  HttpRequest req;
  if (credentials_ && !credentials_->identity_token.empty()) {
    auth_attempted_ = true;
    req.url = realm;
    req.form_body = query + "&grant_type=refresh_token&client_id=maelstrom-cpp&refresh_token=" +
                    url_encode(credentials_->identity_token);
  } else {
    req.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
    if (has_password) {
      auth_attempted_ = true;
      req.headers.push_back("Authorization: Basic " +
                            base64_encode(credentials_->username + ":" + credentials_->password));
    }
  }
  HttpResponse r;
  try {
    r = http.perform(req);
  } catch (const HttpTransportError& e) {
    throw UserError("token service " + realm + " of registry " + ref_.host + " unreachable: " + e.what());
  }
  if (r.status == 401 || r.status == 403) {
    throw UserError("wrong credentials for registry " + ref_.host + " (its token service " + realm +
                    " refused them): log in again with `docker login " + ref_.host + "`");
  }
  if (r.status != 200) {
    throw UserError("token service " + realm + " of registry " + ref_.host + " answered HTTP " +
                    std::to_string(r.status));
  }
  json j = json::parse(r.body, nullptr, false);
  std::string token;
  if (j.is_object()) {
    if (j.contains("token") && j["token"].is_string()) token = j["token"].get<std::string>();
    if (token.empty() && j.contains("access_token") && j["access_token"].is_string()) {
      token = j["access_token"].get<std::string>();
    }
  }
  if (token.empty()) {
    throw UserError("token service " + realm + " of registry " + ref_.host + " returned no token");
  }
  auth_header_ = "Authorization: Bearer " + token;
  return true;
}

void RegistryClient::fail_transport(const HttpTransportError& e) const {
  if (e.connection_refused) {
    throw UserError("registry " + ref_.host + " unreachable (connection refused)");
  }
  if (e.tls_untrusted) {
    throw UserError("registry " + ref_.host + " has an untrusted TLS certificate (" + e.what() +
                    "); if you trust it, set accept-invalid-remote-container-tls-certs = true "
                    "(or pass --accept-invalid-remote-container-tls-certs)");
  }
  if (e.tls_error && !plain_http_allowed_) {
    throw UserError("TLS handshake with registry " + ref_.host + " failed (" + e.what() +
                    "); plain HTTP is used only for loopback registries and those listed in "
                    "container-insecure-registries (--container-insecure-registries " +
                    ref_.host + ")");
  }
  throw TransientError("registry " + ref_.host + " unreachable: " + e.what());
}

void RegistryClient::fail_status(const HttpResponse& r, const std::string& what) const {
  auto [code, message] = registry_error(r.body);
  std::string detail = message.empty() ? "" : " (" + message + ")";
  if (r.status == 401 || r.status == 403) {
    bool attempted;
    {
      std::lock_guard lock(const_cast<std::mutex&>(mu_));
      attempted = auth_attempted_ || (credentials_ && !credentials_->bearer_token.empty());
    }
    if (attempted) {
      throw UserError("wrong credentials for registry " + ref_.host + ": access to " + ref_.repository +
                      " denied (HTTP " + std::to_string(r.status) + ")");
    }
    throw UserError("access to " + ref_.repository + " on registry " + ref_.host + " denied (HTTP " +
                    std::to_string(r.status) + "): the image does not exist or needs a login");
  }
  std::string msg =
      "registry " + ref_.host + " answered HTTP " + std::to_string(r.status) + " for " + what + detail;
  if (r.status >= 500) throw TransientError(msg);
  throw UserError(msg);
}

RegistryClient::FetchedManifest RegistryClient::get_manifest(HttpClient& http, const std::string& reference) {
  HttpRequest req;
  req.url = base_url() + "/manifests/" + reference;
  req.headers.push_back("Accept: " + std::string(kAcceptManifests));
  HttpResponse r = send(http, req);
  bool by_digest = reference.starts_with("sha256:");
  if (r.status == 404) {
    auto [code, message] = registry_error(r.body);
    if (code == "NAME_UNKNOWN") {
      throw RegistryNotFound("image not found: no repository " + ref_.repository + " in registry " +
                             ref_.host);
    }
    if (by_digest) {
      throw RegistryNotFound("manifest " + reference + " not found in " + ref_.host + "/" + ref_.repository);
    }
    // Registries answer MANIFEST_UNKNOWN for unknown repositories too: ask for the tags.
    HttpRequest tags_req;
    tags_req.url = base_url() + "/tags/list";
    HttpResponse tags = send(http, tags_req);
    if (tags.status == 404) {
      throw RegistryNotFound("image not found: no repository " + ref_.repository + " in registry " +
                             ref_.host);
    }
    std::string available;
    json j = json::parse(tags.body, nullptr, false);
    if (tags.status == 200 && j.is_object() && j.contains("tags") && j["tags"].is_array()) {
      size_t shown = 0;
      for (const json& t : j["tags"]) {
        if (!t.is_string()) continue;
        if (shown++ == 10) {
          available += ", ...";
          break;
        }
        available += (available.empty() ? "" : ", ") + t.get<std::string>();
      }
    }
    throw RegistryNotFound("tag " + reference + " not found in " + ref_.host + "/" + ref_.repository +
                           (available.empty() ? "" : " (available: " + available + ")"));
  }
  if (r.status != 200) fail_status(r, "manifest " + reference);
  FetchedManifest m;
  m.content_type = r.header("content-type");
  m.digest = Digest::of_bytes(r.body);
  std::string expected = by_digest ? reference : r.header("docker-content-digest");
  if (expected.starts_with("sha256:") && expected != "sha256:" + m.digest.hex()) {
    throw UserError("manifest " + reference + " from " + ref_.host + ": digest mismatch (expected " +
                    expected + ", got sha256:" + m.digest.hex() + ")");
  }
  m.body = std::move(r.body);
  return m;
}

Digest RegistryClient::fetch_blob(HttpClient& http, const Digest& digest, const fs::path& partial,
                                  const std::function<void(int64_t)>& progress) {
  constexpr int kAttempts = 4;
  // Attempts report how many bytes the partial file holds; the caller sees deltas.
  int64_t reported = 0;
  auto at = [&](int64_t bytes_in_file) {
    if (progress && bytes_in_file != reported) progress(bytes_in_file - reported);
    reported = bytes_in_file;
  };
  bool restarted = false;
  for (int attempt = 1;; ++attempt) {
    bool resumed = false;
    try {
      Digest got = fetch_blob_once(http, digest, partial, at, resumed);
      if (got != digest && resumed && !restarted) {
        // The kept start may be what went wrong: one clean download before giving up.
        restarted = true;
        fs::remove(partial);
        at(0);
        continue;
      }
      return got;
    } catch (const TransientError&) {
      // Retried, resuming from the .partial file.
      if (attempt >= kAttempts) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    }
  }
}

Digest RegistryClient::fetch_blob_once(HttpClient& http, const Digest& digest, const fs::path& partial,
                                       const std::function<void(int64_t)>& at, bool& resumed) {
  UniqueFd file(
      check_sys(::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644), "open " + partial.string()));
  const int fd = file.get();
  // Hash what an earlier attempt left, then append from there.
  std::optional<Sha256> sha;
  sha.emplace();
  uint64_t have = 0;
  std::string buf(1 << 20, '\0');
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    check_sys(n, "read " + partial.string());
    if (n == 0) break;
    sha->update(buf.data(), static_cast<size_t>(n));
    have += static_cast<uint64_t>(n);
  }
  at(static_cast<int64_t>(have));
  resumed = have > 0;
  auto restart = [&] {
    check_sys(::ftruncate(fd, 0), "truncate " + partial.string());
    check_sys(::lseek(fd, 0, SEEK_SET), "seek " + partial.string());
    sha.emplace();
    have = 0;
    resumed = false;
    at(0);
  };
  HttpRequest req;
  req.url = base_url() + "/blobs/sha256:" + digest.hex();
  req.range_from = have;
  req.on_sink_start = [&](long status, const std::map<std::string, std::string>& headers) {
    if (status == 200 && have > 0) restart();  // no Range support: the whole blob again
    if (status == 206) {
      auto it = headers.find("content-range");
      std::string expected = "bytes " + std::to_string(have) + "-";
      if (it == headers.end() || !it->second.starts_with(expected)) {
        restart();
        throw TransientError("registry " + ref_.host + " answered a range request for blob sha256:" +
                             digest.hex() + " with the wrong range");
      }
    }
  };
  req.sink = [&](const char* data, size_t n) {
    write_all(fd, data, n, "write " + partial.string());
    sha->update(data, n);
    have += n;
    at(static_cast<int64_t>(have));
  };
  HttpResponse r = send(http, req);
  if (r.status == 416 && have > 0) return sha->finish();  // already complete
  if (r.status == 404) {
    throw RegistryNotFound("blob sha256:" + digest.hex() + " not found in " + ref_.host + "/" +
                           ref_.repository);
  }
  if (r.status != 200 && r.status != 206) fail_status(r, "blob sha256:" + digest.hex());
  return sha->finish();
}

}  // namespace mael
