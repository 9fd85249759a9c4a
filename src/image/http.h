#pragma once
// A small blocking HTTP client over libcurl: one CURL handle per HttpClient, so
// use one per thread. Follows redirects; the Authorization header given by the
// caller is not sent to other hosts on a redirect (curl's default).
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace mael {

// A transport-level failure (no HTTP response).
class HttpTransportError : public std::runtime_error {
 public:
  HttpTransportError(const std::string& what, int curl_code, bool refused, bool tls, bool untrusted)
      : std::runtime_error(what),
        curl_code(curl_code),
        connection_refused(refused),
        tls_error(tls),
        tls_untrusted(untrusted) {}
  int curl_code;
  bool connection_refused;
  bool tls_error;      // the TLS handshake failed (e.g. the peer speaks plain HTTP)
  bool tls_untrusted;  // the peer speaks TLS, but its certificate was not accepted
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool head = false;
  // When set, the request is a POST of this body as application/x-www-form-urlencoded.
  std::string form_body;
  // Sends "Range: bytes=N-" when non-zero.
  uint64_t range_from = 0;
  // When set, the body of a 2xx response is passed here instead of being kept in
  // HttpResponse::body (error bodies are always kept). May throw.
  std::function<void(const char* data, size_t n)> sink;
  // Called with the status and the headers (lower-case names) before the
  // first byte goes to the sink. May throw.
  std::function<void(long status, const std::map<std::string, std::string>& headers)> on_sink_start;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; the final response's only
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(bool verify_tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Throws HttpTransportError when no response arrived, or what the sink threw.
  HttpResponse perform(const HttpRequest& request);

 private:
  void* curl_;
  bool verify_tls_;
};

// Percent-encodes a query parameter value.
std::string url_encode(const std::string& s);

}  // namespace mael
