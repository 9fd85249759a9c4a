#pragma once
// libcurl, loaded on the first HTTP request instead of at start. Linking it pulls in ~30
// shared objects (TLS, Kerberos, LDAP, IDN, ...) whose loading took ~10 ms of every start of
// every tool, though most runs never talk to a registry.
#include <curl/curl.h>

namespace mael {

struct CurlLibrary {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// Loads libcurl and runs curl_global_init once per process. Throws UserError naming the
// package to install when the library is missing.
const CurlLibrary& curl_library();

}  // namespace mael
