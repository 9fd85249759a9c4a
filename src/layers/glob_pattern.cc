#include "layers/glob_pattern.h"

#include <re2/re2.h>

#include "base/error.h"

namespace mael {

namespace {

void append_literal(std::string& out, char c) {
  if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) out += '\\';
  out += c;
}

class Translator {
 public:
  explicit Translator(const std::string& p) : p_(p) {}

  std::string run() {
    std::string out = translate(false);
    if (i_ != p_.size()) fail("unmatched '}'");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw UserError("invalid glob '" + p_ + "': " + why); }

  bool at_component_start() const { return i_ == 0 || p_[i_ - 1] == '/'; }

  // Translates until the end, or (in_alt) until the ',' or '}' ending an alternative.
  std::string translate(bool in_alt) {
    std::string out;
    while (i_ < p_.size()) {
      char c = p_[i_];
      if (in_alt && (c == ',' || c == '}')) return out;
      if (c == '*' && i_ + 1 < p_.size() && p_[i_ + 1] == '*') {
        bool start = at_component_start();
        size_t after = i_ + 2;
        bool end =
            after == p_.size() || p_[after] == '/' || (in_alt && (p_[after] == ',' || p_[after] == '}'));
        if (!start || !end) fail("'**' must be a whole path component");
        if (after < p_.size() && p_[after] == '/') {
          out += "(?:.*/)?";  // "**/": zero or more directories
          i_ = after + 1;
        } else {
          out += ".*";  // trailing "**" ("x/**" needs something below x: the '/' is already literal)
          i_ = after;
        }
        continue;
      }
      ++i_;
      switch (c) {
        case '*': out += ".*"; break;
        case '?': out += "."; break;
        case '\\':
          if (i_ == p_.size()) fail("dangling '\\'");
          append_literal(out, p_[i_++]);
          break;
        case '[': out += char_class(); break;
        case '{': {
          out += "(?:";
          for (bool first = true;; first = false) {
            if (!first) out += '|';
            out += translate(true);
            if (i_ == p_.size()) fail("unclosed '{'");
            if (p_[i_++] == '}') break;
          }
          out += ')';
          break;
        }
        default: append_literal(out, c);
      }
    }
    return out;
  }

  std::string char_class() {
    std::string out = "[";
    if (i_ < p_.size() && (p_[i_] == '!' || p_[i_] == '^')) {
      out += '^';
      ++i_;
    }
    bool first = true;
    for (;; first = false) {
      if (i_ == p_.size()) fail("unclosed '['");
      char c = p_[i_++];
      if (c == ']' && !first) break;
      if (c == '-' && !first && i_ < p_.size() && p_[i_] != ']') {
        out += '-';
        continue;
      }
      if (c == '\\' || c == ']' || c == '[' || c == '^' || c == '-') out += '\\';
      out += c;
    }
    return out + "]";
  }

  const std::string& p_;
  size_t i_ = 0;
};

}  // namespace

GlobPattern::GlobPattern(const std::string& pattern) : regex_(Translator(pattern).run()) {
  RE2::Options opts;
  opts.set_dot_nl(true);
  opts.set_log_errors(false);
  re_ = std::make_unique<RE2>(regex_, opts);
  if (!re_->ok()) throw UserError("invalid glob '" + pattern + "': " + re_->error());
}

GlobPattern::~GlobPattern() = default;
GlobPattern::GlobPattern(GlobPattern&&) noexcept = default;

bool GlobPattern::matches(std::string_view path) const {
  return RE2::FullMatch(path, *re_);
}

std::string glob_literal_dir(const std::string& pattern) {
  // A literal component becomes the same literal in the regex, '/' included, so a match starts
  // with "DIR/".
  std::string dir;
  size_t start = 0;
  for (;;) {
    size_t slash = pattern.find('/', start);
    if (slash == std::string::npos) return dir;  // the last component: matched by the walk
    std::string_view c(pattern.data() + start, slash - start);
    if (c.empty() || c == "." || c == ".." || c.find_first_of("*?[{\\") != std::string_view::npos)
      return dir;
    dir = pattern.substr(0, slash);
    start = slash + 1;
  }
}

}  // namespace mael
