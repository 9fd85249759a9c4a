#include "layers/brace_expand.h"

#include <optional>

#include "base/error.h"

namespace mael {

namespace {

// Index of the '}' closing the '{' at open, or npos.
size_t matching_close(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      ++depth;
    } else if (s[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string::npos;
}

std::vector<std::string> split_top_level(const std::string& body) {
  std::vector<std::string> parts{""};
  int depth = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\\' && i + 1 < body.size()) {
      parts.back() += c;
      parts.back() += body[++i];
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (c == ',' && depth == 0) {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

std::optional<std::vector<std::string>> range(const std::string& body) {
  size_t dots = body.find("..");
  if (dots == std::string::npos) return std::nullopt;
  std::string a = body.substr(0, dots), b = body.substr(dots + 2);
  auto is_int = [](const std::string& x) {
    size_t i = (!x.empty() && x[0] == '-') ? 1 : 0;
    if (i == x.size()) return false;
    for (; i < x.size(); ++i)
      if (x[i] < '0' || x[i] > '9') return false;
    return true;
  };
  std::vector<std::string> out;
  if (is_int(a) && is_int(b)) {
    long lo = std::stol(a), hi = std::stol(b);
    if (std::labs(hi - lo) > 100000) throw UserError("brace range {" + body + "} is too large");
    for (long v = lo;; v += lo <= hi ? 1 : -1) {
      out.push_back(std::to_string(v));
      if (v == hi) break;
    }
    return out;
  }
  if (a.size() == 1 && b.size() == 1) {
    for (char c = a[0];; c = static_cast<char>(c + (a[0] <= b[0] ? 1 : -1))) {
      out.emplace_back(1, c);
      if (c == b[0]) break;
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] != '{') continue;
    size_t close = matching_close(s, i);
    if (close == std::string::npos) throw UserError("'" + s + "': unbalanced '{' in brace expansion");
    std::string body = s.substr(i + 1, close - i - 1);
    std::vector<std::string> alternatives = split_top_level(body);
    if (alternatives.size() == 1) {
      auto r = range(body);
      if (!r) continue;  // "{x}" is literal; look for a later group
      alternatives = *r;
    }
    std::string prefix = s.substr(0, i), suffix = s.substr(close + 1);
    std::vector<std::string> out;
    for (const auto& alt : alternatives)
      for (auto& tail : expand_braces(alt + suffix)) out.push_back(prefix + tail);
    return out;
  }
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '{')
      ++depth;
    else if (s[i] == '}')
      --depth;
  }
  if (depth < 0) throw UserError("'" + s + "': unbalanced '}' in brace expansion");
  return {s};
}

}  // namespace mael
