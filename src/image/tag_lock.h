#pragma once
// The container tags lock file, maelstrom-container-tags.lock, in the project
// directory: a tag is resolved once, recorded here, and pinned afterwards.
// Format (TOML): `version = 1`, then one table per image name as written
// without tag ("alpine", "localhost:5000/foo") mapping tag -> "sha256:HEX".
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/digest.h"
#include "base/unique_fd.h"

namespace mael {

inline constexpr std::string_view kTagLockFileName = "maelstrom-container-tags.lock";

using TagTable = std::map<std::string, std::map<std::string, Digest>>;

// Parses the file's text; an empty text is an empty table. Throws UserError
// "FILE:LINE: problem" naming `file_name`.
TagTable parse_tag_lock(std::string_view text, const std::string& file_name);
std::string format_tag_lock(const TagTable& table);

// The lock file, flock()ed from opening to destruction when it exists (so that
// concurrent resolvers in other processes and threads wait and then see our
// entry); created by the first set().
class TagLockFile {
 public:
  explicit TagLockFile(const std::filesystem::path& path);

  std::optional<Digest> get(const std::string& name, const std::string& tag) const;
  // Records and writes the file at once.
  void set(const std::string& name, const std::string& tag, const Digest& digest);

 private:
  void lock_and_read();
  std::filesystem::path path_;
  UniqueFd fd_;  // invalid until the file exists
  TagTable table_;
};

}  // namespace mael
