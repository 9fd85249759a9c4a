// libFuzzer target: TOML text read as a test-runner spec file's container pieces. Bad input may
// only end in a UserError. Also checks that the nesting scan (base/toml_bounds.h) never lets a
// document deeper than its bound through.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "base/input_limits.h"
#include "spec/toml_spec.h"

namespace {

int depth(const mael::Value& v) {
  int d = 0;
  for (const mael::Value& i : v.items) d = std::max(d, depth(i));
  for (const mael::Value::Field& f : v.fields) d = std::max(d, depth(f.value));
  return d + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  mael::SpecContext ctx("fuzz.toml");
  mael::Value doc;
  try {
    doc = mael::toml_to_value(mael::parse_toml_text(text, "fuzz.toml"));
  } catch (const mael::UserError&) {
    return 0;
  }
  // The root table is one level more than the scan counts.
  if (depth(doc) > mael::limits::kMaxTomlDepth + 1) std::abort();
  try {
    mael::parse_container_spec(doc, ctx);
  } catch (const mael::UserError&) {
  }
  for (const mael::Value::Field& f : doc.fields) {
    try {
      if (f.key == "containers") mael::parse_containers(f.value, ctx);
      if (f.key == "layers") mael::parse_layers(f.value, ctx);
      if (f.key == "mounts") mael::parse_mounts(f.value, ctx);
      if (f.key == "environment") mael::parse_environment(f.value, ctx);
    } catch (const mael::UserError&) {
    }
  }
  return 0;
}
