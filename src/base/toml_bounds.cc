#include "base/toml_bounds.h"

#include <vector>

#include "base/error.h"
#include "base/input_limits.h"

namespace mael {

namespace {

// Follows TOML's lexical structure (strings, comments, headers, keys and values) far enough to
// know, at each character, how deep the node it belongs to is. Only the places where toml++
// itself would go on parsing matter: after anything malformed it stops before building more.
class DepthScan {
 public:
  explicit DepthScan(std::string_view s) : s_(s) {}

  // The line where the depth first passes `max`, or 0.
  int first_line_deeper_than(int max) {
    max_ = max;
    bool line_start = true;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\n') {
        ++line_;
        ++i_;
        if (stack_.empty()) {
          key_pos_ = true;
          depth_ = header_;
          line_start = true;
        }
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
        continue;
      }
      bool at_line_start = line_start;
      line_start = false;
      if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (c == '"' || c == '\'') {
        skip_string();
        continue;
      }
      ++i_;
      if (key_pos_ && stack_.empty() && at_line_start && c == '[') {
        if (!header()) return line_;
        continue;
      }
      if (key_pos_) {
        if (c == '.' && !deeper()) return line_;
        if (c == '=') {
          key_pos_ = false;
          if (!deeper()) return line_;
        }
        if (c == '}') close();
        continue;
      }
      switch (c) {
        case '{':  // a table at this depth; its keys start from it
          stack_.push_back({c, depth_});
          key_pos_ = true;
          break;
        case '[':  // its elements are one level down
          stack_.push_back({c, depth_});
          if (!deeper()) return line_;
          break;
        case ',':
          if (!stack_.empty()) {
            depth_ = stack_.back().depth;
            if (stack_.back().kind == '{') {
              key_pos_ = true;
            } else if (!deeper()) {
              return line_;
            }
          }
          break;
        case ']':
        case '}': close(); break;
        default: break;  // a value's characters, '.' of floats and times included
      }
    }
    return 0;
  }

 private:
  struct Open {
    char kind;
    int depth;  // of the array or inline table itself
  };

  bool deeper() { return ++depth_ <= max_; }

  void close() {
    if (stack_.empty()) return;
    depth_ = stack_.back().depth;
    stack_.pop_back();
    key_pos_ = false;
  }

  // After the '[' of a [table] or [[array.of.tables]] header: its depth is one level per part,
  // one more for an array of tables.
  bool header() {
    int depth = 1;
    if (i_ < s_.size() && s_[i_] == '[') {
      ++depth;
      ++i_;
    }
    while (i_ < s_.size() && s_[i_] != ']' && s_[i_] != '\n') {
      if (s_[i_] == '"' || s_[i_] == '\'') {
        skip_string();
        continue;
      }
      if (s_[i_] == '.' && ++depth > max_) return false;
      ++i_;
    }
    header_ = depth_ = depth;
    return depth <= max_;
  }

  // From an opening quote to just after the closing one (or the end of the line for an
  // unterminated one-line string, which toml++ refuses).
  void skip_string() {
    char q = s_[i_];
    bool basic = q == '"';
    if (s_.substr(i_, 3) == std::string_view(basic ? "\"\"\"" : "'''")) {
      // Multi-line: ends at the first three unescaped quotes, which may be followed by up to
      // two more that belong to the content.
      i_ += 3;
      while (i_ < s_.size()) {
        char c = s_[i_];
        if (c == '\n') ++line_;
        if (basic && c == '\\') {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == '\n') ++line_;
          i_ += 2;
          continue;
        }
        if (c == q && s_.substr(i_, 3) == std::string_view(basic ? "\"\"\"" : "'''")) {
          i_ += 3;
          for (int extra = 0; extra < 2 && i_ < s_.size() && s_[i_] == q; ++extra) ++i_;
          return;
        }
        ++i_;
      }
      return;
    }
    ++i_;
    while (i_ < s_.size() && s_[i_] != '\n') {
      char c = s_[i_];
      if (basic && c == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] != '\n') {
        i_ += 2;
        continue;
      }
      ++i_;
      if (c == q) return;
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  int line_ = 1;
  int max_ = 0;
  int header_ = 0;  // depth of the current [table]
  int depth_ = 0;   // depth of what is being read
  bool key_pos_ = true;
  std::vector<Open> stack_;  // open arrays and inline tables; never deeper than max_
};

}  // namespace

void check_toml_bounds(std::string_view text, const std::string& source) {
  if (text.size() > limits::kMaxTomlBytes)
    throw UserError(source + ": longer than " + std::to_string(limits::kMaxTomlBytes >> 20) +
                    " MiB (the limit for a TOML file)");
  if (int line = DepthScan(text).first_line_deeper_than(limits::kMaxTomlDepth))
    throw UserError(source + ": line " + std::to_string(line) + ": tables and arrays nested more than " +
                    std::to_string(limits::kMaxTomlDepth) +
                    " levels deep (the limit; each part of a dotted key is a level)");
}

}  // namespace mael
