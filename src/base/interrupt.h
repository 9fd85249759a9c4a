#pragma once
// For tools whose signal thread ends the process on Ctrl-C / SIGTERM: once it has set
// g_interrupted it alone speaks (one line) and exits; other threads, whose work the signal broke
// (a child killed by the same Ctrl-C, a cancelled job), must report nothing more and park.
#include <unistd.h>

#include <atomic>

namespace mael {

inline std::atomic<bool> g_interrupted = false;

// Blocks for good if the process is being interrupted; returns at once otherwise.
inline void park_if_interrupted() {
  if (!g_interrupted) return;
  for (;;) ::pause();
}

}  // namespace mael
