#include "layers/brace_expand.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "base/error.h"

namespace mael {

namespace {

struct Seq;

// One piece of a sequence: literal text, a group of alternatives, or a numeric range.
struct Part {
  enum class Kind : uint8_t { Text, Group, Range };
  Kind kind = Kind::Text;
  std::string text;        // Text
  std::vector<Seq> alts;   // Group
  uint64_t from = 0, to = 0;  // Range, from <= to
  size_t width = 0;           // Range: zero-padded to this many digits
};

struct Seq {
  std::vector<Part> parts;
};

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  Seq parse() { return parse_seq(false); }

  [[noreturn]] void fail(const std::string& what) const {
    // A pattern of any length makes an error line of a readable length.
    constexpr size_t kShown = 200;
    std::string shown = s_.substr(0, kShown) + (s_.size() > kShown ? "..." : "");
    throw UserError("stubs entry '" + shown + "': " + what);
  }
  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    fail(what + " at column " + std::to_string(at + 1));
  }

 private:
  // Up to the ',' or '}' that ends an alternative (in_group), or to the end.
  Seq parse_seq(bool in_group) {
    Seq seq;
    std::string text;
    auto flush = [&] {
      if (text.empty()) return;
      Part t;
      t.text = std::move(text);
      seq.parts.push_back(std::move(t));
      text.clear();
    };
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\') {
        if (i_ + 1 < s_.size()) text += s_[i_ + 1];  // a '\' at the very end is dropped
        i_ += 2;
        continue;
      }
      if (c == '{') {
        flush();
        seq.parts.push_back(parse_group());
        continue;
      }
      if (c == '}' || c == ',') {
        if (in_group) break;
        fail_at(i_, c == '}' ? "'}' without a '{'" : "',' outside braces (write \\, for a comma)");
      }
      if (c == '.' && i_ + 1 < s_.size() && s_[i_ + 1] == '.')
        fail_at(i_, "'..' outside a range (a range is {FIRST..LAST} with two whole numbers)");
      text += c;
      ++i_;
    }
    flush();
    return seq;
  }

  Part parse_group() {
    size_t open = i_++;
    if (++depth_ > limits::kMaxBraceDepth)
      fail_at(open, "braces nested more than " + std::to_string(limits::kMaxBraceDepth) +
                        " levels deep (the limit)");
    Part g;
    if (parse_range(g)) {
      --depth_;
      return g;
    }
    g.kind = Part::Kind::Group;
    for (;;) {
      g.alts.push_back(parse_seq(true));
      if (i_ >= s_.size()) fail_at(open, "'{' without a '}'");
      if (s_[i_++] == '}') break;  // else the ',' before another alternative
    }
    --depth_;
    return g;
  }

  // "DIGITS..DIGITS}" right after a '{': a range.
  bool parse_range(Part& r) {
    auto digits = [&](size_t p) {
      size_t e = p;
      while (e < s_.size() && s_[e] >= '0' && s_[e] <= '9') ++e;
      return e;
    };
    size_t a = i_, a_end = digits(a);
    if (a_end == a || s_.compare(a_end, 2, "..") != 0) return false;
    size_t b = a_end + 2, b_end = digits(b);
    if (b_end == b || b_end >= s_.size() || s_[b_end] != '}') return false;
    std::string_view first(s_.data() + a, a_end - a), last(s_.data() + b, b_end - b);
    auto number = [&](std::string_view t) {
      uint64_t v = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || end != t.data() + t.size())
        fail_at(a, "range bound " + std::string(t) + " is too large");
      return v;
    };
    r.kind = Part::Kind::Range;
    r.from = number(first);
    r.to = number(last);
    if (r.from > r.to)
      fail_at(a - 1, "range {" + std::string(first) + ".." + std::string(last) + "} counts down (write {" +
                         std::string(last) + ".." + std::string(first) + "})");
    if (first.starts_with('0') || last.starts_with('0')) r.width = std::max(first.size(), last.size());
    i_ = b_end + 1;
    return true;
  }

  const std::string& s_;
  size_t i_ = 0;
  int depth_ = 0;
};

// How many paths, saturating at cap (so no product overflows).
uint64_t count(const Seq& s, uint64_t cap);
uint64_t count(const Part& p, uint64_t cap) {
  switch (p.kind) {
    case Part::Kind::Text: return 1;
    case Part::Kind::Range: return std::min(cap, p.to - p.from < cap ? p.to - p.from + 1 : cap);
    case Part::Kind::Group: {
      uint64_t n = 0;
      for (const Seq& a : p.alts) n = std::min(cap, n + count(a, cap));
      return n;
    }
  }
  return 1;
}
uint64_t count(const Seq& s, uint64_t cap) {
  uint64_t n = 1;
  for (const Part& p : s.parts) {
    uint64_t m = count(p, cap);
    n = m != 0 && n > cap / m ? cap : std::min(cap, n * m);
  }
  return n;
}

// The length of the longest path (an actual one: every part has at least one expansion).
size_t longest(const Seq& s);
size_t longest(const Part& p) {
  switch (p.kind) {
    case Part::Kind::Text: return p.text.size();
    case Part::Kind::Range: return std::max(p.width, std::to_string(p.to).size());
    case Part::Kind::Group: {
      size_t n = 0;
      for (const Seq& a : p.alts) n = std::max(n, longest(a));
      return n;
    }
  }
  return 0;
}
size_t longest(const Seq& s) {
  size_t n = 0;
  for (const Part& p : s.parts) n += longest(p);
  return n;
}

std::string range_value(const Part& r, uint64_t v) {
  std::string t = std::to_string(v);
  if (t.size() < r.width) t.insert(0, r.width - t.size(), '0');
  return t;
}

std::vector<std::string> expand(const Seq& s);
std::vector<std::string> expand(const Part& p) {
  switch (p.kind) {
    case Part::Kind::Text: return {p.text};
    case Part::Kind::Range: {
      std::vector<std::string> out;
      for (uint64_t v = p.from;; ++v) {
        out.push_back(range_value(p, v));
        if (v == p.to) break;
      }
      return out;
    }
    case Part::Kind::Group: {
      std::vector<std::string> out;
      for (const Seq& a : p.alts) {
        std::vector<std::string> x = expand(a);
        std::move(x.begin(), x.end(), std::back_inserter(out));
      }
      return out;
    }
  }
  return {};
}

// The product, left to right. A part with one expansion is appended to every path in place;
// each part with several at least doubles the count, so the intermediate results add up to less
// than twice the final one.
std::vector<std::string> expand(const Seq& s) {
  std::vector<std::string> out{""};
  for (const Part& p : s.parts) {
    std::vector<std::string> x = expand(p);
    if (x.size() == 1) {
      for (std::string& o : out) o += x[0];
      continue;
    }
    std::vector<std::string> next;
    next.reserve(out.size() * x.size());
    for (const std::string& o : out)
      for (const std::string& e : x) next.push_back(o + e);
    out = std::move(next);
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& pattern, size_t max_entries) {
  Parser parser(pattern);
  auto too_many = [&] {
    parser.fail("expands to more than " + std::to_string(limits::kMaxStubEntries) +
                " paths in one stubs layer (the limit)");
  };
  if (pattern.find('{') == std::string::npos) {
    if (max_entries == 0) too_many();
    return {pattern};
  }
  Seq seq = parser.parse();
  if (count(seq, uint64_t{max_entries} + 1) > max_entries) too_many();
  if (longest(seq) > limits::kMaxStubPathBytes)
    parser.fail("expands to a path longer than " + std::to_string(limits::kMaxStubPathBytes) +
                " bytes (the limit)");
  return expand(seq);
}

}  // namespace mael
