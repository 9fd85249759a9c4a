#include "base/unique_fd.h"

#include "base/error.h"

namespace mael {

Pipe open_pipe(int flags) {
  int p[2];
  check_sys(::pipe2(p, flags), "pipe");
  return {UniqueFd(p[0]), UniqueFd(p[1])};
}

}  // namespace mael
