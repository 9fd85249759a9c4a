#pragma once
// Terminal columns taken by UTF-8 text: wide East Asian characters and most emoji
// take two, combining marks and zero-width characters none, the rest one. An
// approximation of wcwidth() that needs no locale (tools print UTF-8 whatever
// LC_CTYPE says); invalid bytes count one column each.
#include <cstddef>
#include <string_view>

namespace mael {

// Columns of one code point.
size_t codepoint_width(char32_t c);
// Columns of the code point starting at s[i]; *len: its length in bytes (at least 1).
size_t char_width_at(std::string_view s, size_t i, size_t* len);
size_t display_width(std::string_view s);

}  // namespace mael
