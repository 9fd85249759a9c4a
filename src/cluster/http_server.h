#pragma once
// A tiny HTTP/1.1 server for the broker's status page: GET only, one request
// per connection, on one thread that polls every connection at once (so a slow
// or idle peer delays nobody else). Enough for a page that polls a JSON
// endpoint once a second; not a general web server.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace mael::cluster {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;
  // Listens on all addresses at `port` (0: pick a free one).
  HttpServer(uint16_t port, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  uint16_t port() const { return port_; }

 private:
  void loop();
  // The whole response to a complete request head.
  std::string respond(const std::string& request);

  Handler handler_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace mael::cluster
