#pragma once
// The bounds TOML text must keep before toml++ parses it (input_limits.h). toml++ bounds the
// nesting of arrays and inline tables, but not that of dotted keys and [a.b.c] headers: a key of a
// million parts makes a million nested tables, which its parser and destructor walk recursively
// until the stack runs out. This scan counts those levels without parsing.
#include <string>
#include <string_view>

namespace mael {

// Throws UserError "SOURCE: ..." when `text` is longer than limits::kMaxTomlBytes, or
// "SOURCE: line L: ..." when some value in it may be nested deeper than limits::kMaxTomlDepth.
// The depth counted is an upper bound of the document's (every '.' of a key is a level), so
// valid documents within the bound are never refused.
void check_toml_bounds(std::string_view text, const std::string& source);

}  // namespace mael
