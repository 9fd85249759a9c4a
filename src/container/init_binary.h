#pragma once
// The container's init program (init/init_main.cc, embedded at build time).

namespace mael {

// A read-only descriptor of the init program, for execveat(fd, "", ...,
// AT_EMPTY_PATH): a sealed memfd made once per process (close-on-exec; the
// program is an ELF file, which execveat runs from such a descriptor).
// Throws std::system_error if it cannot be made.
int init_program_fd();

}  // namespace mael
