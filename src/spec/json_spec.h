#pragma once
// maelstrom-run's input: a stream of JSON objects, one after another (whitespace between them
// optional). Each is a job spec, or {"containers": {NAME: ContainerSpec, ...}} (exactly that one
// key) defining named containers for the jobs after it. Objects are read one at a time, so a job
// can start before the rest of the input exists (stdin).
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "spec/spec.h"
#include "spec/value.h"

namespace mael {

struct JobStreamItem {
  std::variant<JobSpec, std::map<std::string, ContainerSpec>> item;
  int line = 0;  // where the object starts
};

// Reads successive JSON values from a stream, stamping every node with its position.
class JsonValueStream {
 public:
  JsonValueStream(std::istream& in, std::string source_name);
  ~JsonValueStream();
  JsonValueStream(const JsonValueStream&) = delete;
  JsonValueStream& operator=(const JsonValueStream&) = delete;

  // The next value, or nullopt when only blanks are left. Throws UserError on malformed JSON.
  std::optional<Value> next();
  const SpecContext& context() const { return ctx_; }

  class CountingBuf;  // implementation detail

 private:
  std::unique_ptr<CountingBuf> buf_;
  std::unique_ptr<std::istream> counted_;
  SpecContext ctx_;
};

class JobSpecStreamReader {
 public:
  // source_name names the input in errors ("stdin", a file name).
  JobSpecStreamReader(std::istream& in, std::string source_name) : values_(in, std::move(source_name)) {}

  // The next item, or nullopt at the end of the input. Throws UserError
  // "SOURCE: line L column C: what" for malformed JSON or a bad spec.
  std::optional<JobStreamItem> next();
  // The input's name as given ("stdin", a file name).
  const std::string& source_name() const { return values_.context().source(); }

 private:
  JsonValueStream values_;
};

// Parses a string holding exactly one JSON value into a Value tree; errors as above.
Value parse_json_value(std::string_view text, const std::string& source_name);

}  // namespace mael
