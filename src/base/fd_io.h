#pragma once
// Whole reads and writes on a file descriptor, restarting on EINTR and short counts.
#include <cstddef>
#include <string>

namespace mael {

// Writes all of data to fd; throws std::system_error naming `what` on error.
void write_all(int fd, const void* data, size_t n, const std::string& what);

// Reads fd until EOF (or an error, which ends the text like EOF).
std::string read_all(int fd);

// Copies the file `from` to `to` (made, or truncated, with `mode`), both opened close-on-exec:
// std::filesystem::copy_file's descriptors are inherited by children started meanwhile, and
// a program copied while one is open cannot be started (ETXTBSY) until that child ends.
// Throws UserError naming the file.
void copy_file_contents(const std::string& from, const std::string& to, unsigned mode);

}  // namespace mael
