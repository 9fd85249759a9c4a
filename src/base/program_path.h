#pragma once
// Which program a command name runs, as execvp would find it.
#include <filesystem>
#include <string>

namespace mael {

// `name` itself if it has a slash, else the first executable `name` in the directories of
// `path_var` (a PATH value; an empty entry is the current directory); symlinks resolved. Empty
// when there is none.
std::filesystem::path program_on_path(const std::string& name, const std::string& path_var);

}  // namespace mael
