#pragma once
// The container's init program (init/init_main.cc, embedded at build time).
#include <filesystem>

namespace mael {

// A read-only descriptor of the init program, for execveat(fd, "", ...,
// AT_EMPTY_PATH), made once per process (close-on-exec; the program is an ELF
// file, which execveat runs from such a descriptor): a sealed memfd, or where
// the kernel forbids executing those (vm.memfd_noexec = 2), an unnamed file
// in fallback_dir. Throws std::system_error if it cannot be made.
int init_program_fd(const std::filesystem::path& fallback_dir);

}  // namespace mael
