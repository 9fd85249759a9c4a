#include "spec/value.h"

#include "base/error.h"

namespace mael {

const Value* Value::find(std::string_view key) const {
  for (const Field& f : fields)
    if (f.key == key) return &f.value;
  return nullptr;
}

std::string Value::describe() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return std::string("boolean `") + (boolean ? "true" : "false") + "`";
    case Kind::Int: return "integer `" + std::to_string(integer) + "`";
    case Kind::Float: return "floating point `" + std::to_string(number) + "`";
    case Kind::String: return "string \"" + string + "\"";
    case Kind::Array: return "a list";
    case Kind::Table: return "a map";
    case Kind::Other: return string;
  }
  return "?";
}

void SpecContext::fail(SourcePos pos, const std::string& what) const {
  std::string msg = source_;
  if (pos.line > 0) {
    msg += ": line " + std::to_string(pos.line);
    if (pos.column > 0) msg += " column " + std::to_string(pos.column);
  }
  msg += ": " + what;
  throw UserError(msg);
}

}  // namespace mael
