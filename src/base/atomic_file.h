#pragma once
// Replacing a file whole: for state and reports that another process (or a crash) must
// never see half-written.
#include <filesystem>
#include <string_view>

namespace mael {

// Writes `text` to a temporary file beside `path` (unique per process and thread) and renames
// it over `path`, so readers see the old content or the new, never a part; with `durable`
// the data reaches the disk before the rename. Creates no directories. On failure throws
// std::system_error naming the step and the file, and leaves no temporary file behind.
void write_file_atomically(const std::filesystem::path& path, std::string_view text, bool durable = false);

// Whether `candidate` is `path` itself or one of the temporary files write_file_atomically
// makes for it (so that a watcher can tell a program's own writes).
bool is_file_or_its_atomic_temp(const std::filesystem::path& candidate, const std::filesystem::path& path);

}  // namespace mael
