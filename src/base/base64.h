#pragma once
// Base64 (RFC 4648), as registries' credentials and our Python helpers' records use it.
#include <string>
#include <string_view>

namespace mael {

// Decodes standard or URL-safe base64; padding, whitespace and other bytes are skipped.
std::string base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

}  // namespace mael
