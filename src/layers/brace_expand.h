#pragma once
// Shell-style brace expansion for stub layers: "/dev/{null,zero}" -> "/dev/null",
// "/dev/zero"; nested groups, several groups (cartesian product, left to right),
// empty alternatives ("{a,}") and ranges ("{1..3}", "{a..c}"). A group without
// a comma or range stays literal, like in bash.
#include <string>
#include <vector>

namespace mael {

// Throws UserError on unbalanced braces.
std::vector<std::string> expand_braces(const std::string& pattern);

}  // namespace mael
