#pragma once
// The test filter language of Maelstrom's test runners (-i/--include, -x/--exclude and the
// `filter` of spec-file directives), e.g. `package.eq(foo) && !name.contains/slow/`.
//
// Grammar, loosest binding first (and/diff associate to the left):
//   or   := and (("|" | "||" | "or") and)*
//   and  := not (("&" | "&&" | "+" | "and" | "\" | "-" | "minus") not)*
//   not  := ("!" | "~" | "not") not | simple
//   simple := "(" or ")" | WORD ["()"] | WORD "." MATCHER ARG
// ARG is text between a matched pair of delimiters: () [] {} <> //. Words may be shortened to
// any unambiguous prefix. Which words exist is adapter knowledge: see filter_language.h.
//
// Hand-written recursive descent: the arguments are raw text, which a tokenizer-first design
// would mangle.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runner/filter_language.h"

namespace mael {

// A test as the filter sees it: named string fields and named list fields. A field missing from
// the maps is unknown (for example the case name while only the package is known), which makes
// selectors on it evaluate to Unknown.
struct FilterFields {
  std::map<std::string, std::string> strings;
  std::map<std::string, std::vector<std::string>> lists;
};

enum class Tri : uint8_t { False, True, Unknown };

class Filter {
 public:
  struct Node;

  // Parses one filter; throws UserError "invalid filter 'TEXT': at column N: what".
  static Filter parse(std::string_view text, const FilterLanguage& lang);
  // (include_1 | include_2 | ...) - (exclude_1 | exclude_2 | ...); no includes means `all`.
  static Filter compile(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                        const FilterLanguage& lang);
  // A filter matching everything.
  static Filter all();

  // Three-valued: Unknown when the answer depends on fields `test` does not have.
  Tri evaluate(const FilterFields& test) const;
  // True only when the filter certainly matches.
  bool matches(const FilterFields& test) const { return evaluate(test) == Tri::True; }
  // False only when no test with these known fields can match (used to skip building packages).
  bool may_match(const FilterFields& partial) const { return evaluate(partial) != Tri::False; }

  // A fully parenthesized canonical form, e.g. "(all - name.equals(x))".
  std::string to_string() const;
  const std::string& text() const { return text_; }

 private:
  std::shared_ptr<const Node> root_;
  std::string text_;
};

// `*` `?` `[...]` `{a,b}` `**` and `\` escapes (as the globset crate reads them by default: `*`
// also matches `/`). Returns an RE2 pattern for a full match; throws UserError on bad syntax.
std::string glob_to_regex(std::string_view glob);

}  // namespace mael
