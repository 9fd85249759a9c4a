// libFuzzer target: a filter (-i/-x, a directive's `filter`) in one of the runners' languages,
// parsed, printed and evaluated. Bad input may only end in a UserError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "runner/filter.h"
#include "runner/filter_language.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const mael::FilterLanguage* langs[] = {&mael::cargo_filter_language(), &mael::go_filter_language(),
                                         &mael::pytest_filter_language()};
  const mael::FilterLanguage& lang = *langs[data[0] % 3];
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    mael::Filter f = mael::Filter::parse(text, lang);
    f.to_string();
    mael::FilterFields known;
    known.strings = {{"package", "p"}, {"kind", "library"}, {"artifact", "p"}, {"name", "a::b"},
                     {"file", "t/x.py"}, {"node_id", "t/x.py::a"}, {"package_import_path", "x/y"},
                     {"package_path", "y"}, {"package_name", "y"}};
    known.lists = {{"markers", {"slow", "m"}}};
    f.evaluate(known);
    f.evaluate(mael::FilterFields{});  // everything unknown
  } catch (const mael::UserError&) {
  }
  return 0;
}
