#pragma once
// The run loop's JobSubmitter for a real Client. Header-only so that mael_runner does not
// depend on mael_client; runner programs link both.
#include "client/client.h"
#include "runner/run_loop.h"

namespace mael {

inline JobSubmitter client_submitter(Client& client) {
  return [&client](const JobSpec& spec, std::function<void(JobState)> on_state,
                   std::function<void(JobOutcome)> on_done) {
    client.run_job(spec, std::move(on_state), std::move(on_done));
  };
}

}  // namespace mael
