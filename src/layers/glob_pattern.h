#pragma once
// Glob patterns for glob layers, with the semantics of Rust's globset defaults as Maelstrom 0.14
// uses them: matched against the whole '/'-separated relative path; '*' and '?' also match '/';
// "**" as a whole path component (or a whole alternative) matches any number of directories
// ("**/x" also matches "x"; "x/**" matches what is below x; "**" or "**/" alone matches every
// path); any other "**" is two '*' ("**.py" is "*.py"); "[...]" classes with '!' or '^'
// negation; "{a,b}" alternatives, empty ones dropped ("{,a}b" is "ab"); a '}' with no '{' open
// is ignored; '\' escapes.
#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace mael {

class GlobPattern {
 public:
  // Throws UserError for an invalid pattern.
  explicit GlobPattern(const std::string& pattern);
  ~GlobPattern();
  GlobPattern(GlobPattern&&) noexcept;
  bool matches(std::string_view path) const;
  // The RE2 regular expression the glob became (for tests and debugging).
  const std::string& regex() const { return regex_; }

 private:
  std::string regex_;
  std::unique_ptr<re2::RE2> re_;
};

// The directory every match of `pattern` lies strictly below: its leading components without
// glob syntax, the last component excepted ("crates/a/data/*.txt" -> "crates/a/data";
// "**/x", "*.rs", "Cargo.toml" -> ""). Stops at an empty, "." or ".." component. A walk for
// matches can start there instead of at the top.
std::string glob_literal_dir(const std::string& pattern);

}  // namespace mael
