#pragma once
// A format-neutral document tree with source positions. The JSON reader (job specs) and the
// TOML reader (test-runner spec files) both produce it, so the rules for layers, mounts,
// environments and containers are written once (spec_fields.h) and report errors the same way:
// "SOURCE: line L column C: what".
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

struct SourcePos {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
};

class Value {
 public:
  enum class Kind : uint8_t { Null, Bool, Int, Float, String, Array, Table, Other };
  struct Field;

  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;  // String; for Other, a description such as "a date"
  std::vector<Value> items;
  std::vector<Field> fields;  // Table, in document order
  SourcePos pos;

  bool is_table() const { return kind == Kind::Table; }
  const Value* find(std::string_view key) const;
  // "a string", "an integer `42`", ... as used in type errors.
  std::string describe() const;
};

struct Value::Field {
  std::string key;
  SourcePos key_pos;
  Value value;
};

// Where a document came from, for error messages.
class SpecContext {
 public:
  explicit SpecContext(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }
  // Throws UserError "SOURCE: line L column C: what" (position omitted when unknown).
  [[noreturn]] void fail(SourcePos pos, const std::string& what) const;

 private:
  std::string source_;
};

}  // namespace mael
