// libFuzzer target: a `stubs` entry brace-expanded. Bad input may only end in a UserError; what
// comes out keeps the bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "base/input_limits.h"
#include "layers/brace_expand.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string pattern(reinterpret_cast<const char*>(data), size);
  try {
    std::vector<std::string> paths = mael::expand_braces(pattern);
    if (paths.size() > mael::limits::kMaxStubEntries) std::abort();
    if (pattern.find('{') == std::string::npos) {
      if (paths.size() != 1 || paths[0] != pattern) std::abort();
    } else {
      for (const std::string& p : paths)
        if (p.size() > mael::limits::kMaxStubPathBytes) std::abort();
    }
  } catch (const mael::UserError&) {
  }
  return 0;
}
