// libFuzzer target: an image manifest or index (with a platform picked from it) and an image
// config, as a registry or an image archive serves them. Bad input may only end in a UserError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "image/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  try {
    mael::Manifest m = mael::parse_manifest(body, "", "fuzz manifest");
    if (m.is_index) mael::select_platform(m.manifests, mael::parse_platform("linux/amd64"));
  } catch (const mael::UserError&) {
  }
  try {
    mael::parse_manifest(body, "application/vnd.oci.image.index.v1+json", "fuzz index");
  } catch (const mael::UserError&) {
  }
  try {
    mael::parse_image_config(body, "fuzz config");
  } catch (const mael::UserError&) {
  }
  return 0;
}
