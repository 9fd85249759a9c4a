#pragma once
// A tiny HTTP/1.1 server for the broker's status page: GET only, one request
// per connection, on one thread that polls every connection at once (so a slow
// or idle peer delays nobody else), optionally over TLS (OpenSSL, with the
// browser's certificate checked against a CA when it presents one). Enough
// for a page that polls a JSON endpoint once a second; not a general web server.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace mael::cluster {

struct HttpRequest {
  std::string path;
  std::string client_cert_pem;               // over TLS, the certificate the browser presented
  std::optional<std::string> authorization;  // the Authorization header
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 address; "::" or "0.0.0.0" for all
  uint16_t port = 0;                  // 0: pick a free one
  // TLS when cert_pem is set; with ca_pem, a browser's certificate must verify.
  std::string cert_pem, key_pem, ca_pem;
};

// Why `address` cannot be listened on by HttpServer (nullopt: it can).
std::optional<std::string> http_address_problem(std::string_view address);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  uint16_t port() const { return port_; }

 private:
  struct Connection;
  void loop();
  // Advances one connection; false when it is finished (or failed).
  bool step(Connection& c);
  // The whole response to a complete request head.
  std::string respond(const std::string& head, const std::string& client_cert_pem);

  Handler handler_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, when TLS is on
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace mael::cluster
