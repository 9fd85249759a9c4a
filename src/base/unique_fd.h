#pragma once
// The one owner of a file descriptor in this project: closes it on destruction. Not for code
// that runs after clone/fork in a child (it calls libc's close) nor the freestanding container
// init.
#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace mael {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership: the caller closes it (e.g. to check close()'s result after writing).
  int release() { return std::exchange(fd_, -1); }
  // Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Both ends of a pipe, each owned.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
// pipe2(flags); throws std::system_error on failure.
Pipe open_pipe(int flags = O_CLOEXEC);

}  // namespace mael
