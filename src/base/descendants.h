#pragma once
// The processes started below this one (its children, theirs, ...), for a tool that is being
// ended by a signal: a build tool's own children (go's compilers, cargo's rustc) are not ours
// to wait for, and a signal sent to our process alone (SIGTERM from a CI timeout, `kill`)
// reaches none of them.
#include <sys/types.h>

#include <chrono>
#include <vector>

namespace mael {

// Every live process whose chain of parents leads to this one, from /proc (zombies left out).
std::vector<pid_t> descendant_processes();

// Sends `sig` to every descendant, gives them up to `grace` to end, then kills (SIGKILL) those
// still there, new ones included.
void end_descendants(int sig, std::chrono::milliseconds grace);

}  // namespace mael
