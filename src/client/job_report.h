#pragma once
// Printing a finished job the way maelstrom-run does: its stdout to stdout,
// its stderr to stderr, then one line about how it ended when that was not a
// clean exit. Returns the exit code the job stands for (0 only for Exited{0}).
// With `silent_exit` (--one, which ends with the job's own exit code or signal), an exit
// or a signal gets no line: the exit status says it, as in Maelstrom.
#include <string>

#include "spec/spec.h"

namespace mael {

int print_job_outcome(const JobOutcome& outcome, const std::string& prefix, bool silent_exit = false);

}  // namespace mael
