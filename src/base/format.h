#pragma once
// fmt-style formatting ("{}", "{:.1f}", "{{"), checked at compile time for the number of
// replacement fields against the arguments. fmt itself does the formatting, compiled into one
// translation unit (format.cc) instead of loaded from its shared library at every start (see
// cmake/static_deps.cmake); callers see only this header.
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace mael {

namespace format_detail {

// The replacement fields in s ("{...}"), or -1 if a brace is unmatched.
consteval int count_placeholders(std::string_view s) {
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '{') {
      if (i + 1 < s.size() && s[i + 1] == '{') {
        ++i;
        continue;
      }
      size_t close = s.find('}', i);
      if (close == std::string_view::npos ||
          s.substr(i + 1, close - i - 1).find('{') != std::string_view::npos)
        return -1;
      ++n;
      i = close;
    } else if (s[i] == '}') {
      if (i + 1 < s.size() && s[i + 1] == '}')
        ++i;
      else
        return -1;
    }
  }
  return n;
}

// One argument, type-erased (the arguments outlive the call that formats them).
struct Arg {
  enum class Kind : uint8_t { Text, Signed, Unsigned, Float, Floating, Bool, Char } kind;
  union {
    std::string_view text;
    long long i;
    unsigned long long u;
    float f;
    double d;
    bool b;
    char c;
  };
  Arg(std::string_view v) : kind(Kind::Text), text(v) {}
  Arg(const std::string& v) : kind(Kind::Text), text(v) {}
  // A string made from the argument (a class converting to std::string) would die before it
  // is formatted: pass the string itself, e.g. path.string().
  Arg(std::string&&) = delete;
  Arg(const char* v) : kind(Kind::Text), text(v ? std::string_view(v) : std::string_view("(null)")) {}
  Arg(char* v) : Arg(static_cast<const char*>(v)) {}
  // Other pointers would otherwise pass as bool.
  template <typename T>
  Arg(T*) = delete;
  Arg(char v) : kind(Kind::Char), c(v) {}
  Arg(bool v) : kind(Kind::Bool), b(v) {}
  template <std::signed_integral T>
  Arg(T v) : kind(Kind::Signed), i(v) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Arg(T v) : kind(Kind::Unsigned), u(v) {}
  Arg(float v) : kind(Kind::Float), f(v) {}  // as a float: 0.1f prints 0.1
  Arg(double v) : kind(Kind::Floating), d(v) {}
};

void format_into(std::string& out, std::string_view text, const Arg* args, size_t count);

}  // namespace format_detail

template <typename... Args>
struct FormatString {
  template <typename S>
  requires std::convertible_to<const S&, std::string_view>
  consteval FormatString(const S& s) : text(s) {
    // Not a constant expression when they differ: the call does not compile.
    if (format_detail::count_placeholders(text) != static_cast<int>(sizeof...(Args)))
      throw "the format string's replacement fields do not match the arguments";
  }
  std::string_view text;
};

template <typename... Args>
std::string format(FormatString<std::type_identity_t<Args>...> f, const Args&... args) {
  std::string out;
  if constexpr (sizeof...(Args) == 0) {
    format_detail::format_into(out, f.text, nullptr, 0);
  } else {
    const format_detail::Arg list[] = {format_detail::Arg(args)...};
    format_detail::format_into(out, f.text, list, sizeof...(Args));
  }
  return out;
}

}  // namespace mael
