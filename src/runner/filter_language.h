#pragma once
// What the words of a test runner's filter language mean: the simple selectors (`all`, cargo's
// `library`, ...), the compound selectors (`name`, `package`, ...) with the test field each one
// reads, and list selectors (pytest's `markers.contains(M)`). Each adapter is a table here; the
// parser and evaluator (filter.h) know none of it.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

// A word and the shortest prefix accepted for it. min_prefix 0 means "the shortest prefix that
// no other word of the same kind shares". When several words accept a prefix, an exact match
// wins, then the first in table order (Maelstrom's go `p` and `package` mean
// `package_import_path` that way).
struct FilterWord {
  std::string word;
  size_t min_prefix = 0;
};

// A selector with no argument: constant, or "field `field` equals `value`".
struct SimpleSelectorDef {
  FilterWord name;
  bool constant = false;  // the value when field is empty
  std::string field;
  std::string value;
};

// `NAME.MATCHER(ARG)`: the matcher applied to string field `field`. When guard_field is set the
// selector also requires guard_field == guard_value (cargo's `binary.equals(x)` is
// `binary && binary.equals(x)`).
struct CompoundSelectorDef {
  FilterWord name;
  std::string field;
  std::string guard_field;
  std::string guard_value;
};

// `NAME.contains(ARG)`: ARG is an element of list field `field`.
struct ListSelectorDef {
  FilterWord name;
  std::string field;
};

struct FilterLanguage {
  std::string name;
  std::vector<SimpleSelectorDef> simple;
  std::vector<CompoundSelectorDef> compound;
  std::vector<ListSelectorDef> lists;
};

enum class Matcher : uint8_t { Equals, Contains, StartsWith, EndsWith, Matches, Globs };
const char* matcher_name(Matcher m);

// The languages of the three runners. Field names they read:
//   cargo:  package, kind (library|binary|test|benchmark|example), artifact (target name), name
//   go:     package_import_path, package_path, package_name, name
//   pytest: package, file, name, node_id; list markers
const FilterLanguage& cargo_filter_language();
const FilterLanguage& go_filter_language();
const FilterLanguage& pytest_filter_language();

}  // namespace mael
