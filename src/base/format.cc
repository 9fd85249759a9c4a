// The one translation unit that compiles fmt (header-only here, so no program loads libfmt).
#define FMT_HEADER_ONLY
#include "base/format.h"

#include <fmt/args.h>
#include <fmt/format.h>

namespace mael::format_detail {

void format_into(std::string& out, std::string_view text, const Arg* args, size_t count) {
  fmt::dynamic_format_arg_store<fmt::format_context> store;
  store.reserve(count, 0);
  for (size_t k = 0; k < count; ++k) {
    const Arg& a = args[k];
    switch (a.kind) {
      case Arg::Kind::Text: store.push_back(a.text); break;
      case Arg::Kind::Char: store.push_back(a.c); break;
      case Arg::Kind::Bool: store.push_back(a.b); break;
      case Arg::Kind::Signed: store.push_back(a.i); break;
      case Arg::Kind::Unsigned: store.push_back(a.u); break;
      case Arg::Kind::Float: store.push_back(a.f); break;
      case Arg::Kind::Floating: store.push_back(a.d); break;
    }
  }
  fmt::vformat_to(std::back_inserter(out), fmt::string_view(text.data(), text.size()), store);
}

}  // namespace mael::format_detail
