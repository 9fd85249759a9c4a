#include "spec/json_spec.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/input_limits.h"
#include "spec/spec_fields.h"

namespace mael {

// Passes characters through from another stream buffer one at a time (no buffering, so nothing
// past the current JSON object is consumed) and tracks where tokens start, so that every node can
// point at the first character of its key or value.
class JsonValueStream::CountingBuf : public std::streambuf {
 public:
  explicit CountingBuf(std::streambuf* src) : src_(src) {}
  // Where the token just read began. A number is only known to end when the character after it
  // has been read; if that one was a `,` `}` or `]` it started a token of its own.
  SourcePos token_start() const { return token_start_; }
  SourcePos number_start() const { return last_was_structural_ ? prev_token_start_ : token_start_; }
  SourcePos last_char() const { return last_; }
  // Bounds the characters read from here on: past `limit`, the input seems to end and
  // over_limit() says why.
  void limit(size_t limit) {
    left_ = limit;
    over_limit_ = false;
  }
  bool over_limit() const { return over_limit_; }
  // Where the next character read is.
  SourcePos next_pos() const { return SourcePos{line_, col_ + 1}; }

 protected:
  int_type underflow() override { return left_ == 0 ? traits_type::eof() : src_->sgetc(); }
  int_type uflow() override {
    if (left_ == 0) {
      over_limit_ = true;
      return traits_type::eof();
    }
    int_type c = src_->sbumpc();
    if (c == traits_type::eof()) return c;
    --left_;
    SourcePos here{line_, col_ + 1};
    if (c == '\n') {
      ++line_;
      col_ = 0;
    } else {
      ++col_;
    }
    last_was_structural_ = false;
    if (in_string_) {
      if (escaped_)
        escaped_ = false;
      else if (c == '\\')
        escaped_ = true;
      else if (c == '"')
        in_string_ = false, new_token_ = true;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      new_token_ = true;
      return c;
    } else if (c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',') {
      start_token(here);
      new_token_ = true;
      last_was_structural_ = true;
    } else if (c == '"') {
      start_token(here);
      in_string_ = true;
    } else if (new_token_) {
      start_token(here);
    }
    last_ = here;
    return c;
  }

 private:
  void start_token(SourcePos p) {
    prev_token_start_ = token_start_;
    token_start_ = p;
    new_token_ = false;
  }

  std::streambuf* src_;
  size_t left_ = SIZE_MAX;
  bool over_limit_ = false;
  int line_ = 1;
  int col_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  bool new_token_ = true;
  bool last_was_structural_ = false;
  SourcePos token_start_{1, 1};
  SourcePos prev_token_start_{1, 1};
  SourcePos last_{1, 1};
};

namespace {

// Builds a Value tree from nlohmann's SAX events, stamping each node with the position of the
// token that produced it.
class TreeBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  using Buf = JsonValueStream::CountingBuf;
  explicit TreeBuilder(const Buf& buf) : buf_(buf) {}

  Value take() { return std::move(root_); }
  const std::optional<std::string>& error() const { return error_; }
  SourcePos error_pos() const { return error_pos_; }

  bool null() override { return add(Value{}); }
  bool boolean(bool b) override {
    Value v;
    v.kind = Value::Kind::Bool;
    v.boolean = b;
    return add(std::move(v));
  }
  bool number_integer(number_integer_t n) override {
    Value v;
    v.kind = Value::Kind::Int;
    v.integer = n;
    return add(std::move(v), buf_.number_start());
  }
  bool number_unsigned(number_unsigned_t n) override {
    Value v;
    if (n <= static_cast<number_unsigned_t>(INT64_MAX)) {
      v.kind = Value::Kind::Int;
      v.integer = static_cast<int64_t>(n);
    } else {
      v.kind = Value::Kind::Float;
      v.number = static_cast<double>(n);
    }
    return add(std::move(v), buf_.number_start());
  }
  bool number_float(number_float_t f, const string_t&) override {
    Value v;
    v.kind = Value::Kind::Float;
    v.number = f;
    return add(std::move(v), buf_.number_start());
  }
  bool string(string_t& s) override {
    Value v;
    v.kind = Value::Kind::String;
    v.string = std::move(s);
    return add(std::move(v));
  }
  bool binary(binary_t&) override {
    Value v;
    v.kind = Value::Kind::Other;
    v.string = "binary data";
    return add(std::move(v));
  }
  bool start_object(std::size_t) override {
    Value v;
    v.kind = Value::Kind::Table;
    return open(std::move(v));
  }
  bool key(string_t& k) override {
    Value& obj = *stack_.back();
    for (const auto& f : obj.fields) {
      if (f.key == k) {
        fail(buf_.token_start(), "duplicate field `" + k + "`");
        return false;
      }
    }
    obj.fields.push_back(Value::Field{std::move(k), buf_.token_start(), Value{}});
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    Value v;
    v.kind = Value::Kind::Array;
    return open(std::move(v));
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    // nlohmann's text is "[json.exception...] parse error at line L, column C: WHAT"; its
    // position counts from the start of this object, ours from the start of the input.
    std::string what = ex.what();
    if (size_t p = what.find(": "); p != std::string::npos) what = what.substr(p + 2);
    fail(buf_.last_char(), what);
    return false;
  }

 private:
  void fail(SourcePos p, std::string what) {
    if (!error_) {
      error_ = std::move(what);
      error_pos_ = p;
    }
  }
  // Where the next value goes: the root, the end of an array, or the last key of an object.
  Value* slot() {
    if (stack_.empty()) return &root_;
    Value& top = *stack_.back();
    if (top.kind == Value::Kind::Array) {
      top.items.emplace_back();
      return &top.items.back();
    }
    return &top.fields.back().value;
  }
  bool add(Value v) { return add(std::move(v), buf_.token_start()); }
  bool add(Value v, SourcePos pos) {
    v.pos = pos;
    *slot() = std::move(v);
    return true;
  }
  bool open(Value v) {
    v.pos = buf_.token_start();
    // nlohmann's parser keeps its own stack, but our Value tree is destroyed and walked
    // recursively: a bound keeps that within the thread's stack.
    if (stack_.size() >= static_cast<size_t>(limits::kMaxJsonDepth)) {
      fail(v.pos, "arrays and objects nested more than " + std::to_string(limits::kMaxJsonDepth) +
                      " levels deep (the limit)");
      return false;
    }
    Value* s = slot();
    *s = std::move(v);
    stack_.push_back(s);
    return true;
  }

  const Buf& buf_;
  Value root_;
  std::vector<Value*> stack_;  // pointers stay valid: only the innermost container grows
  std::optional<std::string> error_;
  SourcePos error_pos_;
};

}  // namespace

JsonValueStream::JsonValueStream(std::istream& in, std::string source_name)
    : buf_(std::make_unique<CountingBuf>(in.rdbuf())),
      counted_(std::make_unique<std::istream>(buf_.get())),
      ctx_(std::move(source_name)) {}

JsonValueStream::~JsonValueStream() = default;

std::optional<Value> JsonValueStream::next() {
  // Skip blanks ourselves: at the end of the input there is nothing left to parse.
  for (;;) {
    int c = buf_->sgetc();
    if (c == std::char_traits<char>::eof()) return std::nullopt;
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    buf_->sbumpc();
  }
  TreeBuilder builder(*buf_);
  counted_->clear();
  SourcePos start = buf_->next_pos();
  buf_->limit(limits::kMaxJsonValueBytes);
  bool ok =
      nlohmann::json::sax_parse(*counted_, &builder, nlohmann::json::input_format_t::json, /*strict=*/false);
  if (buf_->over_limit()) {
    ctx_.fail(SourcePos{start.line, 0},
              "a JSON value longer than " + std::to_string(limits::kMaxJsonValueBytes >> 20) +
                  " MiB (the limit for one job spec or containers object)");
  }
  buf_->limit(SIZE_MAX);
  if (!ok || builder.error()) ctx_.fail(builder.error_pos(), builder.error().value_or("malformed JSON"));
  return builder.take();
}

std::optional<JobStreamItem> JobSpecStreamReader::next() {
  std::optional<Value> v = values_.next();
  if (!v) return std::nullopt;
  const SpecContext& ctx = values_.context();
  if (!v->is_table())
    ctx.fail(v->pos, "expected a JSON object (a job spec or {\"containers\": ...}), found " + v->describe());
  JobStreamItem out;
  out.line = v->pos.line;
  if (v->fields.size() == 1 && v->fields[0].key == "containers") {
    out.item = parse_containers(v->fields[0].value, ctx);
  } else {
    out.item = parse_job_spec(*v, ctx);
  }
  return out;
}

Value parse_json_value(std::string_view text, const std::string& source_name) {
  std::istringstream in{std::string(text)};
  JsonValueStream values(in, source_name);
  std::optional<Value> v = values.next();
  if (!v) values.context().fail(SourcePos{1, 1}, "expected a JSON value, found the end of the input");
  if (std::optional<Value> extra = values.next())
    values.context().fail(extra->pos, "trailing characters after the JSON value");
  return std::move(*v);
}

}  // namespace mael
