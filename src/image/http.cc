#include "image/http.h"

#include <cctype>
#include <exception>

#include "image/curl_library.h"

namespace mael {
namespace {

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  CURL* curl;
  std::exception_ptr error;
  bool sink_started = false;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new response (after a redirect or 100-continue): forget the previous one.
    t->response->headers.clear();
    t->response->body.clear();
    t->sink_started = false;
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string value = line.substr(colon + 1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.erase(0, 1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  t->response->headers[name] = value;
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long status = 0;
  curl_library().easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->request->sink && status >= 200 && status < 300) {
    try {
      if (!t->sink_started) {
        t->sink_started = true;
        if (t->request->on_sink_start) t->request->on_sink_start(status, t->response->headers);
      }
      t->request->sink(data, size * n);
    } catch (...) {
      t->error = std::current_exception();
      return 0;  // aborts the transfer
    }
  } else {
    t->response->body.append(data, size * n);
  }
  return size * n;
}

}  // namespace

HttpClient::HttpClient(bool verify_tls) : verify_tls_(verify_tls) {
  curl_ = curl_library().easy_init();
  if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
}

HttpClient::~HttpClient() {
  curl_library().easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResponse HttpClient::perform(const HttpRequest& request) {
  const CurlLibrary& lib = curl_library();
  CURL* c = static_cast<CURL*>(curl_);
  lib.easy_reset(c);
  HttpResponse response;
  Transfer t{&request, &response, c, nullptr};
  char errbuf[CURL_ERROR_SIZE] = {0};
  lib.easy_setopt(c, CURLOPT_URL, request.url.c_str());
  lib.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  lib.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  lib.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  lib.easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  lib.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // Give up on a stalled transfer (less than 1 byte/s for a minute).
  lib.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  lib.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  lib.easy_setopt(c, CURLOPT_USERAGENT, "maelstrom-cpp");
  if (!verify_tls_) {
    lib.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    lib.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (request.head) lib.easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!request.form_body.empty()) {
    lib.easy_setopt(c, CURLOPT_POSTFIELDS, request.form_body.c_str());
    lib.easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.form_body.size()));
  }
  std::string range;
  if (request.range_from > 0) {
    range = std::to_string(request.range_from) + "-";
    lib.easy_setopt(c, CURLOPT_RANGE, range.c_str());
  }
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = lib.slist_append(headers, h.c_str());
  lib.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  lib.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  lib.easy_setopt(c, CURLOPT_HEADERDATA, &t);
  lib.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  lib.easy_setopt(c, CURLOPT_WRITEDATA, &t);
  CURLcode rc = lib.easy_perform(c);
  lib.slist_free_all(headers);
  if (t.error) std::rethrow_exception(t.error);
  if (rc != CURLE_OK) {
    std::string msg = errbuf[0] ? errbuf : lib.easy_strerror(rc);
    bool refused = rc == CURLE_COULDNT_CONNECT;
    bool untrusted = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
    bool tls =
        untrusted || rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER;
    throw HttpTransportError(msg, rc, refused, tls, untrusted);
  }
  lib.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

}  // namespace mael
