#pragma once
// Whole reads and writes on a file descriptor, restarting on EINTR and short counts.
#include <cstddef>
#include <string>

namespace mael {

// Writes all of data to fd; throws std::system_error naming `what` on error.
void write_all(int fd, const void* data, size_t n, const std::string& what);

// Reads fd until EOF (or an error, which ends the text like EOF).
std::string read_all(int fd);

}  // namespace mael
