#include "runner/filter.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "base/error.h"
#include "base/input_limits.h"

namespace mael {

// Operators are n-ary: `a | b | c` is one Chain node with three operands, folded from the left,
// so a chain of any length is evaluated, printed and freed without recursing once per operator.
// Only parentheses and negations nest, and the parser bounds how deep (limits::kMaxFilterDepth).
struct Filter::Node {
  enum class Kind : uint8_t { Const, FieldIs, Match, ListContains, Not, Chain };
  enum class Op : uint8_t { And, Or, Diff };
  Kind kind = Kind::Const;
  bool constant = false;
  std::string selector;  // as written in canonical form ("binary", "name", "markers")
  std::string field;
  std::string value;  // FieldIs: the value; Match: the argument; ListContains: the element
  std::string guard_field, guard_value;
  Matcher matcher = Matcher::Equals;
  std::shared_ptr<const RE2> regex;  // Matches and Globs
  std::shared_ptr<const Node> a;     // Not
  // Chain: operands[0], then ops[i - 1] applied to the result so far and operands[i].
  std::vector<std::shared_ptr<const Node>> operands;
  std::vector<Op> ops;
};

namespace {

using Node = Filter::Node;
using NodePtr = std::shared_ptr<const Node>;

Tri tri_not(Tri a) {
  if (a == Tri::Unknown) return a;
  return a == Tri::True ? Tri::False : Tri::True;
}
Tri tri_and(Tri a, Tri b) {
  if (a == Tri::False || b == Tri::False) return Tri::False;
  if (a == Tri::True && b == Tri::True) return Tri::True;
  return Tri::Unknown;
}
Tri tri_or(Tri a, Tri b) {
  if (a == Tri::True || b == Tri::True) return Tri::True;
  if (a == Tri::False && b == Tri::False) return Tri::False;
  return Tri::Unknown;
}
Tri tri(bool b) {
  return b ? Tri::True : Tri::False;
}

bool apply_matcher(const Node& n, const std::string& s) {
  switch (n.matcher) {
    case Matcher::Equals: return s == n.value;
    case Matcher::Contains: return s.find(n.value) != std::string::npos;
    case Matcher::StartsWith: return s.starts_with(n.value);
    case Matcher::EndsWith: return s.ends_with(n.value);
    case Matcher::Matches: return RE2::PartialMatch(s, *n.regex);
    case Matcher::Globs: return RE2::FullMatch(s, *n.regex);
  }
  return false;
}

Tri eval(const Node& n, const FilterFields& t) {
  auto str = [&](const std::string& f) -> const std::string* {
    auto it = t.strings.find(f);
    return it == t.strings.end() ? nullptr : &it->second;
  };
  switch (n.kind) {
    case Node::Kind::Const: return tri(n.constant);
    case Node::Kind::FieldIs: {
      const std::string* v = str(n.field);
      return v ? tri(*v == n.value) : Tri::Unknown;
    }
    case Node::Kind::Match: {
      if (!n.guard_field.empty()) {
        const std::string* g = str(n.guard_field);
        if (!g) return Tri::Unknown;
        if (*g != n.guard_value) return Tri::False;
      }
      const std::string* v = str(n.field);
      return v ? tri(apply_matcher(n, *v)) : Tri::Unknown;
    }
    case Node::Kind::ListContains: {
      auto it = t.lists.find(n.field);
      if (it == t.lists.end()) return Tri::Unknown;
      return tri(std::find(it->second.begin(), it->second.end(), n.value) != it->second.end());
    }
    case Node::Kind::Not: return tri_not(eval(*n.a, t));
    case Node::Kind::Chain: {
      Tri acc = eval(*n.operands[0], t);
      for (size_t i = 1; i < n.operands.size(); ++i) {
        Tri x = eval(*n.operands[i], t);
        switch (n.ops[i - 1]) {
          case Node::Op::And: acc = tri_and(acc, x); break;
          case Node::Op::Or: acc = tri_or(acc, x); break;
          case Node::Op::Diff: acc = tri_and(acc, tri_not(x)); break;
        }
      }
      return acc;
    }
  }
  return Tri::Unknown;
}

char closing_of(char open) {
  switch (open) {
    case '(': return ')';
    case '[': return ']';
    case '{': return '}';
    case '<': return '>';
    case '/': return '/';
  }
  return 0;
}

// Appends the canonical form: every binary operation in parentheses, "((a | b) | c)".
void append_string(const Node& n, std::string& out) {
  switch (n.kind) {
    case Node::Kind::Const: out += n.constant ? "all" : "none"; return;
    case Node::Kind::FieldIs: out += n.selector; return;
    case Node::Kind::Match:
      out += n.selector + "." + matcher_name(n.matcher) + "(" + n.value + ")";
      return;
    case Node::Kind::ListContains: out += n.selector + ".contains(" + n.value + ")"; return;
    case Node::Kind::Not:
      out += "!";
      append_string(*n.a, out);
      return;
    case Node::Kind::Chain:
      out.append(n.ops.size(), '(');
      append_string(*n.operands[0], out);
      for (size_t i = 1; i < n.operands.size(); ++i) {
        switch (n.ops[i - 1]) {
          case Node::Op::And: out += " & "; break;
          case Node::Op::Or: out += " | "; break;
          case Node::Op::Diff: out += " - "; break;
        }
        append_string(*n.operands[i], out);
        out += ")";
      }
      return;
  }
}

std::string to_string(const Node& n) {
  std::string out;
  append_string(n, out);
  return out;
}

// Collects `first (op operand)*` into one Chain node; a single operand stands for itself.
class ChainBuilder {
 public:
  explicit ChainBuilder(NodePtr first) { node_->operands.push_back(std::move(first)); }
  void add(Node::Op op, NodePtr operand) {
    node_->ops.push_back(op);
    node_->operands.push_back(std::move(operand));
  }
  NodePtr done() {
    if (node_->ops.empty()) return node_->operands[0];
    node_->kind = Node::Kind::Chain;
    return std::move(node_);
  }

 private:
  std::shared_ptr<Node> node_ = std::make_shared<Node>();
};

NodePtr constant(bool v) {
  auto n = std::make_shared<Node>();
  n->kind = Node::Kind::Const;
  n->constant = v;
  return n;
}

bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Length of the longest common prefix.
size_t common_prefix(std::string_view a, std::string_view b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

// Resolves `token` among `words` (see FilterWord). Returns the index, or nullopt with `why` set.
std::optional<size_t> resolve_word(std::string_view token, const std::vector<const FilterWord*>& words,
                                   std::string& why) {
  for (size_t i = 0; i < words.size(); ++i)
    if (words[i]->word == token) return i;
  std::vector<size_t> prefix_of;
  for (size_t i = 0; i < words.size(); ++i) {
    const FilterWord& w = *words[i];
    if (!w.word.starts_with(token)) continue;
    prefix_of.push_back(i);
    size_t min = w.min_prefix;
    if (min == 0) {
      min = 1;
      for (const FilterWord* other : words)
        if (other->word != w.word) min = std::max(min, common_prefix(w.word, other->word) + 1);
      min = std::min(min, w.word.size());
    }
    if (token.size() >= min) return i;
  }
  if (prefix_of.empty()) {
    why = "unknown";
  } else {
    why = "ambiguous (could be";
    for (size_t k = 0; k < prefix_of.size(); ++k) why += (k ? ", `" : " `") + words[prefix_of[k]]->word + "`";
    why += ")";
  }
  return std::nullopt;
}

std::string word_list(const std::vector<const FilterWord*>& words) {
  std::string s;
  std::vector<std::string> seen;
  for (const FilterWord* w : words) {
    if (std::find(seen.begin(), seen.end(), w->word) != seen.end()) continue;
    seen.push_back(w->word);
    s += (s.empty() ? "`" : ", `") + w->word + "`";
  }
  return s;
}

const std::vector<FilterWord>& matcher_words() {
  static const std::vector<FilterWord> words = {{"equals", 0},    {"contains", 0}, {"starts_with", 0},
                                                {"ends_with", 0}, {"matches", 0},  {"globs", 0}};
  return words;
}

class Parser {
 public:
  Parser(std::string_view text, const FilterLanguage& lang) : s_(text), lang_(lang) {}

  NodePtr parse() {
    skip_ws();
    if (at_end()) fail(pos_, "expected a selector, found the end of the filter");
    NodePtr n = parse_or();
    skip_ws();
    if (!at_end()) fail(pos_, "expected an operator or the end of the filter, found `" + peek_token() + "`");
    return n;
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    // A filter of any length makes an error line of a readable length.
    constexpr size_t kShown = 200;
    std::string shown(s_.substr(0, kShown));
    if (s_.size() > kShown) shown += "...";
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    throw UserError("invalid filter '" + shown + "': at column " + std::to_string(at + 1) + ": " + what);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  void skip_ws() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  std::string_view word_at(size_t p) const {
    size_t e = p;
    while (e < s_.size() && is_word_char(s_[e])) ++e;
    return s_.substr(p, e - p);
  }
  std::string peek_token() const {
    std::string_view w = word_at(pos_);
    return w.empty() ? std::string(1, s_[pos_]) : std::string(w);
  }
  // Consumes a keyword operator (a whole word) or one of the symbols; longest symbol first.
  bool eat(std::initializer_list<std::string_view> symbols, std::string_view keyword) {
    skip_ws();
    if (at_end()) return false;
    if (!keyword.empty() && word_at(pos_) == keyword) {
      pos_ += keyword.size();
      return true;
    }
    for (std::string_view sym : symbols) {
      if (s_.substr(pos_).starts_with(sym)) {
        pos_ += sym.size();
        return true;
      }
    }
    return false;
  }

  NodePtr parse_or() {
    ChainBuilder chain(parse_and());
    while (eat({"||", "|"}, "or")) chain.add(Node::Op::Or, parse_and());
    return chain.done();
  }

  NodePtr parse_and() {
    ChainBuilder chain(parse_not());
    for (;;) {
      if (eat({"&&", "&", "+"}, "and")) {
        chain.add(Node::Op::And, parse_not());
      } else if (eat({"\\", "-"}, "minus")) {
        chain.add(Node::Op::Diff, parse_not());
      } else {
        return chain.done();
      }
    }
  }

  // One more level of parentheses or negation, refused past the bound (the parser, evaluator and
  // destructor recurse once per level).
  struct Nested {
    Nested(Parser& p, size_t at) : p(p) {
      if (++p.depth_ > limits::kMaxFilterDepth)
        p.fail(at, "parentheses and negations nested more than " + std::to_string(limits::kMaxFilterDepth) +
                       " levels deep (the limit)");
    }
    ~Nested() { --p.depth_; }
    Parser& p;
  };

  NodePtr parse_not() {
    skip_ws();
    size_t at = pos_;
    if (eat({"!", "~"}, "not")) {
      Nested level(*this, at);
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::Not;
      n->a = parse_not();
      return n;
    }
    return parse_simple();
  }

  NodePtr parse_simple() {
    skip_ws();
    if (at_end()) fail(pos_, "expected a selector, found the end of the filter");
    if (s_[pos_] == '(') {
      size_t open = pos_++;
      Nested level(*this, open);
      NodePtr inner = parse_or();
      skip_ws();
      if (at_end()) fail(open, "unclosed `(`");
      if (s_[pos_] != ')') fail(pos_, "expected `)` or an operator, found `" + peek_token() + "`");
      ++pos_;
      return inner;
    }
    size_t start = pos_;
    std::string_view word = word_at(pos_);
    if (word.empty()) fail(pos_, "expected a selector, found `" + peek_token() + "`");
    pos_ += word.size();
    if (!at_end() && s_[pos_] == '.') {
      ++pos_;
      return parse_compound(word, start);
    }
    return parse_simple_selector(word, start);
  }

  NodePtr parse_simple_selector(std::string_view word, size_t start) {
    std::vector<const FilterWord*> words;
    for (const auto& d : lang_.simple) words.push_back(&d.name);
    std::string why;
    std::optional<size_t> i = resolve_word(word, words, why);
    if (!i && why == "unknown") {
      for (const auto& c : lang_.compound)
        if (c.name.word.starts_with(word))
          fail(start, "selector `" + c.name.word + "` needs a matcher and an argument, e.g. `" + c.name.word +
                          ".equals(...)`");
      for (const auto& c : lang_.lists)
        if (c.name.word.starts_with(word))
          fail(start, "selector `" + c.name.word + "` needs `.contains(...)`");
    }
    if (!i) {
      fail(start, "selector `" + std::string(word) + "` is " + why + "; expected one of " + word_list(words));
    }
    // Optional empty argument list: `library()`.
    if (!at_end() && s_[pos_] == '(') {
      size_t open = pos_++;
      skip_ws();
      if (at_end() || s_[pos_] != ')')
        fail(open, "simple selector `" + words[*i]->word + "` takes no argument");
      ++pos_;
    }
    const SimpleSelectorDef& def = lang_.simple[*i];
    if (def.field.empty()) return constant(def.constant);
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::FieldIs;
    n->selector = def.name.word;
    n->field = def.field;
    n->value = def.value;
    return n;
  }

  NodePtr parse_compound(std::string_view word, size_t start) {
    std::vector<const FilterWord*> words;
    for (const auto& d : lang_.compound) words.push_back(&d.name);
    for (const auto& d : lang_.lists) words.push_back(&d.name);
    std::string why;
    std::optional<size_t> i = resolve_word(word, words, why);
    if (!i) {
      fail(start, "compound selector `" + std::string(word) + "` is " + why + "; expected one of " +
                      word_list(words));
    }
    size_t mstart = pos_;
    std::string_view mword = word_at(pos_);
    pos_ += mword.size();
    if (*i >= lang_.compound.size()) {
      // A list selector: only `contains` (any prefix of it).
      const ListSelectorDef& def = lang_.lists[*i - lang_.compound.size()];
      if (mword.empty() || !std::string_view("contains").starts_with(mword))
        fail(mstart, "selector `" + def.name.word + "` only takes the matcher `contains`");
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::ListContains;
      n->selector = def.name.word;
      n->field = def.field;
      n->value = parse_argument();
      return n;
    }
    std::vector<const FilterWord*> mwords;
    for (const auto& m : matcher_words()) mwords.push_back(&m);
    if (mword.empty()) fail(mstart, "expected a matcher (one of " + word_list(mwords) + ")");
    std::optional<size_t> m = resolve_word(mword, mwords, why);
    if (!m)
      fail(mstart,
           "matcher `" + std::string(mword) + "` is " + why + "; expected one of " + word_list(mwords));
    const CompoundSelectorDef& def = lang_.compound[*i];
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::Match;
    n->selector = def.name.word;
    n->field = def.field;
    n->guard_field = def.guard_field;
    n->guard_value = def.guard_value;
    n->matcher = static_cast<Matcher>(*m);
    size_t arg_start = pos_;
    n->value = parse_argument();
    if (n->matcher == Matcher::Matches || n->matcher == Matcher::Globs) {
      std::string pattern;
      if (n->matcher == Matcher::Globs) {
        try {
          pattern = glob_to_regex(n->value);
        } catch (const UserError& e) {
          fail(arg_start, e.what());
        }
      } else {
        pattern = n->value;
      }
      RE2::Options opts;
      opts.set_log_errors(false);
      auto re = std::make_shared<const RE2>(pattern, opts);
      if (!re->ok()) fail(arg_start, "invalid regular expression `" + n->value + "`: " + re->error());
      n->regex = std::move(re);
    }
    return n;
  }

  // The text between a matched pair of delimiters; nested pairs of the same kind are kept.
  std::string parse_argument() {
    if (at_end()) fail(pos_, "expected an argument in (), [], {}, <> or //, found the end of the filter");
    char open = s_[pos_];
    char close = closing_of(open);
    if (!close)
      fail(pos_, "expected an argument in (), [], {}, <> or //, found `" + std::string(1, open) + "`");
    size_t open_pos = pos_++;
    int depth = 1;
    std::string out;
    while (!at_end()) {
      char c = s_[pos_++];
      if (c == close) {
        if (--depth == 0) return out;
      } else if (c == open) {
        ++depth;
      }
      out += c;
    }
    fail(open_pos, std::string("unterminated argument: missing `") + close + "`");
  }

  std::string_view s_;
  const FilterLanguage& lang_;
  size_t pos_ = 0;
  int depth_ = 0;  // parentheses and negations open
};

}  // namespace

Filter Filter::parse(std::string_view text, const FilterLanguage& lang) {
  Filter f;
  f.root_ = Parser(text, lang).parse();
  f.text_ = std::string(text);
  return f;
}

Filter Filter::all() {
  Filter f;
  f.root_ = constant(true);
  f.text_ = "all";
  return f;
}

Filter Filter::compile(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                       const FilterLanguage& lang) {
  auto any_of = [&](const std::vector<std::string>& texts) {
    ChainBuilder chain(parse(texts[0], lang).root_);
    for (size_t i = 1; i < texts.size(); ++i) chain.add(Node::Op::Or, parse(texts[i], lang).root_);
    return chain.done();
  };
  NodePtr inc = include.empty() ? constant(true) : any_of(include);
  Filter f;
  if (exclude.empty()) {
    f.root_ = inc;
  } else {
    ChainBuilder diff(inc);
    diff.add(Node::Op::Diff, any_of(exclude));
    f.root_ = diff.done();
  }
  f.text_ = mael::to_string(*f.root_);
  return f;
}

Tri Filter::evaluate(const FilterFields& test) const {
  return eval(*root_, test);
}

std::string Filter::to_string() const {
  return mael::to_string(*root_);
}

std::string glob_to_regex(std::string_view g) {
  std::string re;
  bool in_alt = false;
  for (size_t i = 0; i < g.size(); ++i) {
    char c = g[i];
    switch (c) {
      case '*': {
        if (i + 1 < g.size() && g[i + 1] == '*') {
          bool at_component_start = i == 0 || g[i - 1] == '/';
          ++i;
          if (at_component_start && i + 1 < g.size() && g[i + 1] == '/') {
            ++i;  // `**/`: zero or more directories
            re += "(?:.*/)?";
          } else {
            re += ".*";
          }
        } else {
          re += ".*";
        }
        break;
      }
      case '?': re += "."; break;
      case '[': {
        size_t j = i + 1;
        std::string cls = "[";
        if (j < g.size() && (g[j] == '!' || g[j] == '^')) {
          cls += '^';
          ++j;
        }
        bool first = true;
        for (; j < g.size() && (g[j] != ']' || first); ++j, first = false) {
          char d = g[j];
          if (d == '\\' || d == '[' || d == ']' || d == '^') cls += '\\';
          cls += d;
        }
        if (j >= g.size()) throw UserError("invalid glob `" + std::string(g) + "`: unclosed `[`");
        re += cls + "]";
        i = j;
        break;
      }
      case '{':
        if (in_alt) throw UserError("invalid glob `" + std::string(g) + "`: nested `{`");
        in_alt = true;
        re += "(?:";
        break;
      case '}':
        if (!in_alt) {
          re += "\\}";
        } else {
          in_alt = false;
          re += ")";
        }
        break;
      case ',': re += in_alt ? "|" : ","; break;
      case '\\':
        if (i + 1 < g.size()) {
          ++i;
          re += RE2::QuoteMeta(std::string(1, g[i]));
        } else {
          re += "\\\\";
        }
        break;
      default: re += RE2::QuoteMeta(std::string(1, c));
    }
  }
  if (in_alt) throw UserError("invalid glob `" + std::string(g) + "`: unclosed `{`");
  return "(?s)" + re;
}

}  // namespace mael
