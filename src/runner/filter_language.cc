#include "runner/filter_language.h"

namespace mael {

namespace {

// Selector definitions, member by member: GCC 12 at -O3 takes the braced temporaries this used to
// push for uninitialized strings (-Wmaybe-uninitialized, a false positive).
SimpleSelectorDef simple(const std::string& word, size_t min_prefix, bool constant, const std::string& field,
                         const std::string& value) {
  SimpleSelectorDef d;
  d.name.word = word;
  d.name.min_prefix = min_prefix;
  d.constant = constant;
  d.field = field;
  d.value = value;
  return d;
}
CompoundSelectorDef compound(const std::string& word, size_t min_prefix, const std::string& field,
                             const std::string& guard_field = "", const std::string& guard_value = "") {
  CompoundSelectorDef d;
  d.name.word = word;
  d.name.min_prefix = min_prefix;
  d.field = field;
  d.guard_field = guard_field;
  d.guard_value = guard_value;
  return d;
}

// Minimum prefixes of the built-ins as Maelstrom accepts them (`t` stays ambiguous even where no
// other selector starts with it, so a filter means the same for every runner).
std::vector<SimpleSelectorDef> builtin_simple() {
  return {
      simple("all", 2, true, "", ""),   simple("any", 2, true, "", ""),    simple("true", 2, true, "", ""),
      simple("none", 1, false, "", ""), simple("false", 1, false, "", ""),
  };
}

FilterLanguage make_cargo() {
  FilterLanguage l;
  l.name = "cargo";
  l.simple = builtin_simple();
  for (const char* kind : {"library", "binary", "benchmark", "example", "test"})
    l.simple.push_back(simple(kind, 0, false, "kind", kind));
  l.compound.push_back(compound("name", 0, "name"));
  l.compound.push_back(compound("package", 0, "package"));
  for (const char* kind : {"binary", "benchmark", "example", "test"})
    l.compound.push_back(compound(kind, 0, "artifact", "kind", kind));
  return l;
}

FilterLanguage make_go() {
  FilterLanguage l;
  l.name = "go";
  l.simple = builtin_simple();
  l.compound.push_back(compound("name", 0, "name"));
  // `p`, `package`, `package_` ... all mean the import path, as in Maelstrom.
  l.compound.push_back(compound("package_import_path", 1, "package_import_path"));
  l.compound.push_back(compound("package_path", 0, "package_path"));
  l.compound.push_back(compound("package_name", 0, "package_name"));
  return l;
}

FilterLanguage make_pytest() {
  FilterLanguage l;
  l.name = "pytest";
  l.simple = builtin_simple();
  l.compound.push_back(compound("file", 0, "file"));
  l.compound.push_back(compound("name", 0, "name"));
  l.compound.push_back(compound("node_id", 0, "node_id"));
  l.compound.push_back(compound("package", 0, "package"));
  l.lists.push_back({{"markers", 0}, "markers"});
  return l;
}

}  // namespace

const char* matcher_name(Matcher m) {
  switch (m) {
    case Matcher::Equals: return "equals";
    case Matcher::Contains: return "contains";
    case Matcher::StartsWith: return "starts_with";
    case Matcher::EndsWith: return "ends_with";
    case Matcher::Matches: return "matches";
    case Matcher::Globs: return "globs";
  }
  return "?";
}

const FilterLanguage& cargo_filter_language() {
  static const FilterLanguage l = make_cargo();
  return l;
}
const FilterLanguage& go_filter_language() {
  static const FilterLanguage l = make_go();
  return l;
}
const FilterLanguage& pytest_filter_language() {
  static const FilterLanguage l = make_pytest();
  return l;
}

}  // namespace mael
