#pragma once
// Files the user names as input (config files, job files, test spec files): one wording for
// "that is a directory" and "cannot be read", naming the file and what it should be.
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace mael {

// Throws UserError "cannot read WHAT PATH: it is a directory; HINT" if path is a directory.
void refuse_directory(const std::filesystem::path& path, std::string_view what, std::string_view hint);

// Opens path for reading; a directory (see refuse_directory) or a file that cannot be opened is
// a UserError "cannot read WHAT PATH: REASON".
std::ifstream open_input_file(const std::filesystem::path& path, std::string_view what,
                              std::string_view directory_hint);

// The whole file (opened as above), refused with UserError "cannot read WHAT PATH: longer than N
// MiB (the limit)" once it passes max_bytes, so a file such as /dev/zero cannot fill memory.
std::string read_input_file(const std::filesystem::path& path, std::string_view what,
                            std::string_view directory_hint, size_t max_bytes);

}  // namespace mael
