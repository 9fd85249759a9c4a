#include "base/env_expand.h"

#include <cstdlib>

#include "base/error.h"

namespace mael {

EnvLookup process_env_lookup() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup map_env_lookup(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

namespace {

constexpr const char* kStrayDollar =
    R"(`$` must be followed by "$", "env{", or "prev{" (write "$$" for a literal "$"))";

// Walks `value`; for each reference calls on_ref(kind, name, default) (kind is "env" or "prev")
// and appends its result; literal text is appended as is.
template <typename OnRef>
std::string walk(std::string_view value, OnRef&& on_ref) {
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    size_t dollar = value.find('$', i);
    if (dollar == std::string_view::npos) {
      out.append(value.substr(i));
      break;
    }
    out.append(value.substr(i, dollar - i));
    std::string_view rest = value.substr(dollar + 1);
    std::string_view kind;
    if (rest.starts_with("$")) {
      out.push_back('$');
      i = dollar + 2;
      continue;
    } else if (rest.starts_with("env{")) {
      kind = "env";
    } else if (rest.starts_with("prev{")) {
      kind = "prev";
    } else {
      throw UserError(kStrayDollar);
    }
    size_t open = dollar + 1 + kind.size() + 1;  // first char after '{'
    // The name (and default) end at the first `}`; a `$` before it means the brace is unclosed.
    size_t close = value.find('}', open);
    size_t next_dollar = value.find('$', open);
    if (close == std::string_view::npos || next_dollar < close)
      throw UserError("unterminated `{` in `$" + std::string(kind) + "{`");
    std::string_view body = value.substr(open, close - open);
    std::optional<std::string_view> def;
    if (size_t sep = body.find(":-"); sep != std::string_view::npos) {
      def = body.substr(sep + 2);
      body = body.substr(0, sep);
    }
    out.append(on_ref(kind, body, def));
    i = close + 1;
  }
  return out;
}

}  // namespace

std::string expand_env_value(std::string_view value, const EnvLookup& env, const EnvLookup& prev) {
  return walk(value, [&](std::string_view kind, std::string_view name, std::optional<std::string_view> def) {
    std::optional<std::string> v = kind == "env" ? env(name) : prev(name);
    // Like the shell's ${X:-d}: the default also replaces an empty value.
    if (def && (!v || v->empty())) return std::string(*def);
    if (!v) {
      if (kind == "env")
        throw UserError("unknown variable \"" + std::string(name) + "\" in `$env{" + std::string(name) +
                        "}`: set it in the environment or give a default with `$env{" + std::string(name) +
                        ":-default}`");
      throw UserError("unknown variable \"" + std::string(name) + "\" in `$prev{" + std::string(name) +
                      "}`: it has no value yet; give a default with `$prev{" + std::string(name) +
                      ":-default}`");
    }
    return *v;
  });
}

void check_env_value_syntax(std::string_view value) {
  walk(value,
       [](std::string_view, std::string_view, std::optional<std::string_view>) { return std::string(); });
}

}  // namespace mael
