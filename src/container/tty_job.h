#pragma once
// Runs a job that has a pseudo-terminal (ContainerConfig::tty, Maelstrom's allocate_tty): connects
// to the client's Unix socket, gives the job a new pty of the requested size, and relays between
// the socket and the pty (tty_stream.h's framing toward the job, the job's output back as it is)
// until the job ends; then the socket is closed.
#include "container/runtime.h"

namespace mael {

JobOutcome run_with_tty_socket(Runtime& runtime, const ContainerConfig& config, const CancelToken* cancel);

}  // namespace mael
