#include "cluster/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"

namespace mael::cluster {

namespace {

constexpr size_t kMaxConnections = 16;     // a few browsers; counted in the broker's descriptors
constexpr size_t kMaxRequestHead = 16384;  // headers this long are not from our page
// A peer that neither finishes its request nor takes the answer within this long is dropped.
constexpr std::chrono::seconds kConnectionDeadline{5};
// After accept() fails for lack of descriptors, the listener rests this long instead of spinning.
constexpr std::chrono::milliseconds kAcceptPause{200};

using Clock = std::chrono::steady_clock;

// An IPv4 or IPv6 address (brackets allowed) as a socket address.
std::optional<sockaddr_in6> parse_address(std::string_view address, uint16_t port) {
  std::string a(address);
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  in_addr v4;
  if (::inet_pton(AF_INET, a.c_str(), &v4) == 1) {
    // As an IPv4-mapped address on a dual-stack socket (0.0.0.0 becomes ::, every address).
    if (v4.s_addr == INADDR_ANY) return addr;
    addr.sin6_addr.s6_addr[10] = addr.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&addr.sin6_addr.s6_addr[12], &v4, 4);
    return addr;
  }
  if (::inet_pton(AF_INET6, a.c_str(), &addr.sin6_addr) == 1) return addr;
  return std::nullopt;
}

std::string ssl_errors() {
  std::string out;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown error" : out;
}

SSL_CTX* make_ssl_ctx(const HttpServerOptions& o) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("SSL_CTX_new: " + ssl_errors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  auto bio = [](const std::string& pem) {
    return std::unique_ptr<BIO, decltype(&BIO_free)>(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  };
  auto certs = bio(o.cert_pem);
  X509* leaf = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr);
  if (!leaf || SSL_CTX_use_certificate(ctx.get(), leaf) != 1) {
    X509_free(leaf);
    throw UserError("the broker's TLS certificate cannot be used for the status page: " + ssl_errors());
  }
  X509_free(leaf);
  while (X509* more = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr))
    SSL_CTX_add0_chain_cert(ctx.get(), more);
  ERR_clear_error();  // the end of the chain reads as an error
  auto key_bio = bio(o.key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (!key || SSL_CTX_use_PrivateKey(ctx.get(), key) != 1) {
    EVP_PKEY_free(key);
    throw UserError("the broker's TLS key cannot be used for the status page: " + ssl_errors());
  }
  EVP_PKEY_free(key);
  if (!o.ca_pem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    auto ca = bio(o.ca_pem);
    while (X509* c = PEM_read_bio_X509(ca.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, c);
      X509_free(c);
    }
    ERR_clear_error();
    // Ask for a certificate; one that does not verify fails the handshake, a missing one is
    // the handler's to refuse (with a page that says what to do).
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  return ctx.release();
}

std::string pem_of(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), BIO_free);
  if (!b || PEM_write_bio_X509(b.get(), cert) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

std::optional<std::string> http_address_problem(std::string_view address) {
  if (parse_address(address, 0)) return std::nullopt;
  return "not an IP address: give e.g. 127.0.0.1, ::1, or 0.0.0.0 for every address";
}

struct HttpServer::Connection {
  UniqueFd fd;
  Clock::time_point deadline;
  SSL* ssl = nullptr;
  bool handshaken = false;
  short want = POLLIN;  // what the next step waits for
  std::string in;
  std::string out;  // the response once the request is complete
  size_t sent = 0;
  std::string cert_pem;
};

HttpServer::HttpServer(HttpServerOptions o, Handler handler) : handler_(std::move(handler)) {
  auto addr = parse_address(o.address, o.port);
  if (!addr)
    throw UserError(mael::format("http-address '{}': {}", o.address, *http_address_problem(o.address)));
  if (!o.cert_pem.empty()) ssl_ctx_ = make_ssl_ctx(o);
  listen_fd_.reset(check_sys(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
                             "socket for the web page"));
  int one = 1, zero = 0;
  ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(listen_fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) < 0) {
    int err = errno;
    if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
    throw UserError(
        mael::format("cannot listen on {} http port {}: {}; choose another --http-port or --http-address",
                     o.address, o.port, std::strerror(err)));
  }
  check_sys(::listen(listen_fd_.get(), 64), "listen for the web page");
  socklen_t len = sizeof *addr;
  check_sys(::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&*addr), &len), "getsockname");
  port_ = ntohs(addr->sin6_port);
  stop_fd_.reset(check_sys(::eventfd(0, EFD_CLOEXEC), "eventfd"));
  thread_ = std::thread([this] { loop(); });
}

HttpServer::~HttpServer() {
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

bool HttpServer::step(Connection& c) {
  // On an SSL error: whether to wait (setting c.want) rather than give up.
  auto wait = [&](int r) {
    int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ) c.want = POLLIN;
    if (e == SSL_ERROR_WANT_WRITE) c.want = POLLOUT;
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      log::debug("status page connection: TLS failed: {}", ssl_errors());
      return false;
    }
    return true;
  };
  if (c.ssl && !c.handshaken) {
    int r = SSL_accept(c.ssl);
    if (r != 1) return wait(r);
    c.handshaken = true;
    if (X509* peer = SSL_get1_peer_certificate(c.ssl)) {
      c.cert_pem = pem_of(peer);
      X509_free(peer);
    }
  }
  while (c.out.empty()) {
    char buf[4096];
    ssize_t n;
    if (c.ssl) {
      int r = SSL_read(c.ssl, buf, sizeof buf);
      if (r <= 0) return wait(r);
      n = r;
    } else {
      n = ::recv(c.fd.get(), buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c.want = POLLIN;
        return true;
      }
      if (n <= 0) return false;
    }
    c.in.append(buf, static_cast<size_t>(n));
    if (c.in.find("\r\n\r\n") != std::string::npos)
      c.out = respond(c.in, c.cert_pem);
    else if (c.in.size() > kMaxRequestHead)
      return false;
  }
  while (c.sent < c.out.size()) {
    ssize_t n;
    if (c.ssl) {
      int r = SSL_write(c.ssl, c.out.data() + c.sent, static_cast<int>(c.out.size() - c.sent));
      if (r <= 0) return wait(r);
      n = r;
    } else {
      n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c.want = POLLOUT;
        return true;
      }
      if (n <= 0) return false;
    }
    c.sent += static_cast<size_t>(n);
  }
  if (c.ssl) SSL_shutdown(c.ssl);  // best effort: the close follows
  return false;
}

void HttpServer::loop() {
  std::vector<Connection> conns;
  auto drop = [&](size_t i) {
    if (conns[i].ssl) SSL_free(conns[i].ssl);
    conns.erase(conns.begin() + static_cast<ptrdiff_t>(i));
  };
  Clock::time_point accept_paused_until{};
  for (;;) {
    auto now = Clock::now();
    for (size_t i = conns.size(); i-- > 0;)
      if (conns[i].deadline <= now) drop(i);
    bool accepting = now >= accept_paused_until;
    std::vector<pollfd> fds = {{listen_fd_.get(), static_cast<short>(accepting ? POLLIN : 0), 0},
                               {stop_fd_.get(), POLLIN, 0}};
    auto until = accepting ? Clock::time_point::max() : accept_paused_until;
    for (const Connection& c : conns) {
      fds.push_back({c.fd.get(), c.want, 0});
      until = std::min(until, c.deadline);
    }
    int timeout_ms =
        until == Clock::time_point::max()
            ? -1
            : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() +
                               1);
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    // Connections first (indexes match fds[2..]), newest accepts after.
    for (size_t i = conns.size(); i-- > 0;) {
      if (!fds[i + 2].revents) continue;
      bool keep = false;
      try {
        keep = step(conns[i]);
      } catch (const std::exception& e) {
        log::debug("web page request failed: {}", e.what());
      }
      if (!keep) drop(i);
    }
    if (fds[0].revents) {
      for (;;) {
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_paused_until = Clock::now() + kAcceptPause;
          break;
        }
        if (conns.size() >= kMaxConnections) drop(0);  // the oldest
        Connection c{UniqueFd(fd), Clock::now() + kConnectionDeadline};
        if (ssl_ctx_) {
          c.ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
          if (!c.ssl) continue;
          SSL_set_fd(c.ssl, fd);
        }
        conns.push_back(std::move(c));
      }
    }
  }
  for (Connection& c : conns) {
    if (c.ssl) SSL_free(c.ssl);
  }
}

std::string HttpServer::respond(const std::string& head, const std::string& client_cert_pem) {
  HttpResponse resp;
  std::string line = head.substr(0, head.find("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    resp = {400, "text/plain", "bad request\n"};
  } else if (line.substr(0, sp1) != "GET") {
    resp = {405, "text/plain", "only GET\n"};
  } else {
    HttpRequest req;
    req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (auto q = req.path.find('?'); q != std::string::npos) req.path.resize(q);
    req.client_cert_pem = client_cert_pem;
    // Header names are case-insensitive.
    for (size_t at = head.find("\r\n"); at != std::string::npos && at + 2 < head.size();) {
      size_t end = head.find("\r\n", at + 2);
      std::string h = head.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
      at = end;
      auto colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string name = h.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char ch) { return std::tolower(ch); });
      if (name != "authorization") continue;
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.authorization = value;
    }
    resp = handler_(req);
  }
  const char* reason = resp.status == 200   ? "OK"
                       : resp.status == 401 ? "Unauthorized"
                       : resp.status == 403 ? "Forbidden"
                       : resp.status == 404 ? "Not Found"
                                            : "Error";
  std::string out =
      mael::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
                   resp.status, reason, resp.content_type, resp.body.size());
  for (const auto& [name, value] : resp.headers) out += name + ": " + value + "\r\n";
  return out + "Connection: close\r\n\r\n" + resp.body;
}

}  // namespace mael::cluster
