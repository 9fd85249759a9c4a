// libFuzzer target: a JSON job stream, as maelstrom-run reads it, to its end. Bad input may only
// end in a UserError; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "base/error.h"
#include "spec/json_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  mael::JobSpecStreamReader reader(in, "fuzz.json");
  try {
    while (reader.next()) {
    }
  } catch (const mael::UserError&) {
  }
  return 0;
}
