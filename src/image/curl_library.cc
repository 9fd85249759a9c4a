#include "image/curl_library.h"

#include <dlfcn.h>

#include <string>

#include "base/error.h"

namespace mael {
namespace {

// The soname of every libcurl since 7.16; the unversioned name only exists with the -dev package.
constexpr const char* kNames[] = {"libcurl.so.4", "libcurl.so"};

template <typename F>
void resolve(void* handle, const char* symbol, F& out) {
  void* p = dlsym(handle, symbol);
  if (p == nullptr) {
    throw UserError(std::string("libcurl has no ") + symbol +
                    ": install a libcurl 7.x or newer (package libcurl4)");
  }
  out = reinterpret_cast<F>(p);
}

CurlLibrary load() {
  void* handle = nullptr;
  std::string error;
  for (const char* name : kNames) {
    handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    if (error.empty()) error = dlerror();
  }
  if (handle == nullptr) {
    throw UserError("cannot load libcurl, needed to reach image registries (" + error +
                    "): install the libcurl4 package");
  }
  CurlLibrary lib{};
  resolve(handle, "curl_global_init", lib.global_init);
  resolve(handle, "curl_easy_init", lib.easy_init);
  resolve(handle, "curl_easy_cleanup", lib.easy_cleanup);
  resolve(handle, "curl_easy_reset", lib.easy_reset);
  resolve(handle, "curl_easy_setopt", lib.easy_setopt);
  resolve(handle, "curl_easy_getinfo", lib.easy_getinfo);
  resolve(handle, "curl_easy_perform", lib.easy_perform);
  resolve(handle, "curl_easy_strerror", lib.easy_strerror);
  resolve(handle, "curl_slist_append", lib.slist_append);
  resolve(handle, "curl_slist_free_all", lib.slist_free_all);
  lib.global_init(CURL_GLOBAL_DEFAULT);
  return lib;  // the handle stays open for the life of the process
}

}  // namespace

const CurlLibrary& curl_library() {
  // A failed load throws out of the initializer and is retried by the next caller.
  static const CurlLibrary lib = load();
  return lib;
}

}  // namespace mael
