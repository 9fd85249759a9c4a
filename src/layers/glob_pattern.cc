#include "layers/glob_pattern.h"

#include <re2/re2.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "base/error.h"

namespace mael {

namespace {

// The glob's parts, as globset names them. A pattern is parsed into these first and only then
// written as a regex, because "**" means different things by what precedes and follows it.
struct Token {
  enum Kind : uint8_t {
    kLiteral,              // one UTF-8 character
    kAny,                  // ?
    kZeroOrMore,           // *
    kRecursivePrefix,      // a leading "**/" (or "**" alone)
    kRecursiveSuffix,      // a trailing "/**"
    kRecursiveZeroOrMore,  // "/**/" inside
    kClass,                // [...]
    kAlternates,           // {a,b}
  };
  Kind kind;
  std::string literal;
  bool negated = false;
  std::vector<std::pair<std::string, std::string>> ranges;  // of a class
  std::vector<std::vector<Token>> branches;                 // of alternates
};
using Tokens = std::vector<Token>;

std::string escaped(const std::string& c) {
  if (c.size() == 1 && std::string_view("\\.+*?()|[]{}^$-&~#").find(c[0]) != std::string_view::npos)
    return std::string(1, '\\') + c;
  return c;
}

class Parser {
 public:
  explicit Parser(const std::string& p) : p_(p) { branches_.emplace_back(); }

  Tokens run() {
    while (i_ < p_.size()) {
      std::string c = bump();
      if (c == "?") {
        push({Token::kAny});
      } else if (c == "*") {
        star();
      } else if (c == "[") {
        push(char_class());
      } else if (c == "{") {
        open_.push_back(branches_.size());
        branches_.emplace_back();
      } else if (c == "}") {
        close_alternates();
      } else if (c == "," && !open_.empty()) {
        branches_.emplace_back();
      } else if (c == "\\") {
        if (i_ == p_.size()) fail("dangling '\\': escape a character or double the '\\'");
        push({Token::kLiteral, bump()});
      } else {
        push({Token::kLiteral, c});
      }
    }
    if (!open_.empty()) fail("unclosed '{': close it with '}' or escape it as '\\{'");
    return std::move(branches_.front());
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw UserError("invalid glob '" + p_ + "': " + why); }

  // One UTF-8 character (a lone byte when the text is not UTF-8).
  std::string bump() {
    prev_ = cur_;
    size_t n = 1;
    unsigned char b = static_cast<unsigned char>(p_[i_]);
    if (b >= 0xf0)
      n = 4;
    else if (b >= 0xe0)
      n = 3;
    else if (b >= 0xc0)
      n = 2;
    n = std::min(n, p_.size() - i_);
    cur_ = p_.substr(i_, n);
    i_ += n;
    return cur_;
  }
  char peek() const { return i_ < p_.size() ? p_[i_] : '\0'; }
  bool at_end() const { return i_ == p_.size(); }

  void push(Token t) { branches_.back().push_back(std::move(t)); }

  // A '}' with no '{' open adds an empty alternation, which matches nothing extra: globset (as
  // Maelstrom 0.14 pins it) ignores a stray '}'.
  void close_alternates() {
    Token alts{Token::kAlternates};
    if (!open_.empty()) {
      size_t start = open_.back();
      open_.pop_back();
      for (size_t k = start; k < branches_.size(); ++k) alts.branches.push_back(std::move(branches_[k]));
      branches_.resize(start);
    }
    push(std::move(alts));
  }

  // "**" is recursive only as a whole path component (or a whole alternative); elsewhere it is
  // two '*', and '*' crosses '/'.
  void star() {
    const std::string prev = prev_;
    if (peek() != '*') return push({Token::kZeroOrMore});
    bump();
    Tokens& cur = branches_.back();
    if (cur.empty()) {  // at the start of the pattern or of an alternative
      if (!at_end() && peek() != '/') {
        push({Token::kZeroOrMore});
        return push({Token::kZeroOrMore});
      }
      push({Token::kRecursivePrefix});
      if (!at_end()) bump();  // the '/'
      return;
    }
    if (prev != "/") {
      push({Token::kZeroOrMore});
      return push({Token::kZeroOrMore});
    }
    bool suffix;
    if (at_end() || (!open_.empty() && (peek() == ',' || peek() == '}'))) {
      suffix = true;
    } else if (peek() == '/') {
      bump();
      suffix = false;
    } else {
      push({Token::kZeroOrMore});
      return push({Token::kZeroOrMore});
    }
    Token last = std::move(cur.back());  // the '/' before "**", which the recursive token covers
    cur.pop_back();
    if (last.kind == Token::kRecursivePrefix || last.kind == Token::kRecursiveSuffix)
      push(std::move(last));
    else
      push({suffix ? Token::kRecursiveSuffix : Token::kRecursiveZeroOrMore});
  }

  // A ']' or '-' first is literal, a trailing '-' too, '\' is literal inside, and a range may be
  // extended ("a-c-e" is "a-e").
  Token char_class() {
    Token cls{Token::kClass};
    if (peek() == '!' || peek() == '^') {
      bump();
      cls.negated = true;
    }
    bool first = true, in_range = false;
    for (;; first = false) {
      if (at_end()) fail("unclosed '[': close it with ']' or escape it as '\\['");
      std::string c = bump();
      if (c == "]" && !first) break;
      if (c == "-" && !first && !in_range) {
        in_range = true;
        continue;
      }
      if (in_range) {
        auto& r = cls.ranges.back();
        r.second = c;
        if (r.second < r.first) fail("invalid range '" + r.first + "-" + r.second + "'");
        in_range = false;
      } else {
        cls.ranges.emplace_back(c, c);
      }
    }
    if (in_range) cls.ranges.emplace_back("-", "-");
    return cls;
  }

  const std::string& p_;
  size_t i_ = 0;
  std::string prev_, cur_;
  std::vector<Tokens> branches_;  // the last is the one being written
  std::vector<size_t> open_;      // where each open '{' starts in branches_
};

void write_regex(const Tokens& tokens, std::string& re) {
  for (const Token& t : tokens) {
    switch (t.kind) {
      case Token::kLiteral: re += escaped(t.literal); break;
      case Token::kAny: re += '.'; break;
      case Token::kZeroOrMore: re += ".*"; break;
      case Token::kRecursivePrefix: re += "(?:/?|.*/)"; break;
      case Token::kRecursiveSuffix: re += "/.*"; break;
      case Token::kRecursiveZeroOrMore: re += "(?:/|/.*/)"; break;
      case Token::kClass:
        re += t.negated ? "[^" : "[";
        for (const auto& [lo, hi] : t.ranges) {
          re += escaped(lo);
          if (hi != lo) {
            re += '-';
            re += escaped(hi);
          }
        }
        re += ']';
        break;
      case Token::kAlternates: {
        // Empty alternatives are dropped ("{,a}b" is "ab"), and so is an alternation left with
        // none.
        std::vector<std::string> parts;
        for (const Tokens& b : t.branches) {
          std::string part;
          write_regex(b, part);
          if (!part.empty()) parts.push_back(std::move(part));
        }
        if (parts.empty()) break;
        re += "(?:";
        for (size_t k = 0; k < parts.size(); ++k) {
          if (k) re += '|';
          re += parts[k];
        }
        re += ')';
        break;
      }
    }
  }
}

std::string glob_regex(const std::string& pattern) {
  Tokens tokens = Parser(pattern).run();
  // "**" (or "**/") alone matches every path.
  if (tokens.size() == 1 && tokens[0].kind == Token::kRecursivePrefix) return ".*";
  std::string re;
  write_regex(tokens, re);
  return re;
}

}  // namespace

GlobPattern::GlobPattern(const std::string& pattern) : regex_(glob_regex(pattern)) {
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
    if (c.empty() || c == "." || c == ".." || c.find_first_of("*?[{}\\") != std::string_view::npos)
      return dir;
    dir = pattern.substr(0, slash);
    start = slash + 1;
  }
}

}  // namespace mael
