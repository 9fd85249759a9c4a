#pragma once
// What a peer says about itself (client and worker names, certificate names)
// goes into logs, terminals and the status page: made printable first.
#include <cstddef>
#include <string>
#include <string_view>

namespace mael::cluster {

// `s` with control characters, backslashes and bytes that are not UTF-8
// written as escapes (\n, \x1b, \\), cut to about max_bytes (then "...").
std::string peer_text(std::string_view s, size_t max_bytes = 200);

}  // namespace mael::cluster
