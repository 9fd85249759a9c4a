#pragma once
// Brace expansion for stub layers, as Maelstrom does it (its stubs use the bracoxide crate):
//   "/dev/{null,zero}" -> "/dev/null", "/dev/zero"; "{a,b}{c,d}" -> ac, ad, bc, bd (left to
//   right); nested groups ("x{a,{b,c}y}"); a single alternative loses its braces ("{a}" -> "a",
//   "{}" -> ""); empty alternatives are kept ("/foo/{bar,}" -> "/foo/bar", "/foo/"; "{,}" gives
//   "" twice); ranges of whole numbers "{1..3}", zero-padded to the wider bound when either is
//   written with a leading 0 ("{08..10}" -> 08, 09, 10).
// A pattern without '{' is taken as it is ('}', ',' and '\' included). In one with '{', '\'
// makes the next character literal, and these are errors (as in Maelstrom): a '}' or '{'
// without its pair, a ',' outside braces, ".." other than as a range, a range of anything but
// two numbers. A range that counts down is an error too (Maelstrom silently expands it to
// nothing), and so is one of letters (Maelstrom refuses it).
//
// Bounded (base/input_limits.h): the number of paths one stubs layer may expand to, the depth of
// nested braces and the length of one path. The paths are counted before any is made, and
// making them takes time proportional to their total length (times the nesting depth).
#include <cstddef>
#include <string>
#include <vector>

#include "base/input_limits.h"

namespace mael {

// Throws UserError "stubs entry 'PATTERN': what" for a malformed pattern or one expanding to more
// than max_entries paths (the room left in its stubs layer).
std::vector<std::string> expand_braces(const std::string& pattern,
                                       size_t max_entries = limits::kMaxStubEntries);

}  // namespace mael
