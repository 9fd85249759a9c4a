// libFuzzer target: a test-runner spec file (cargo-maelstrom.toml) parsed, then asked for a
// test's metadata. Bad input may only end in a UserError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "runner/directives.h"
#include "runner/filter_language.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  mael::TemplateVars vars;
  vars["build-dir"] = "target/debug";
  try {
    mael::TestSpecFile f = mael::TestSpecFile::parse(text, "fuzz.toml", mael::cargo_filter_language(), vars);
    mael::FilterFields test;
    test.strings = {{"package", "p"}, {"kind", "library"}, {"artifact", "p"}, {"name", "t"}};
    f.metadata_for(test);
  } catch (const mael::UserError&) {
  }
  return 0;
}
