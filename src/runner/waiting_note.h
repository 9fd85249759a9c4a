#pragma once
// Why a run's first test has not started yet, in one line for the user: the runner asks after a
// while with no test started (an image still downloading, artifacts still uploading, jobs queued
// at a broker that starts none).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace mael {

// What the client knows.
struct WaitingFacts {
  std::vector<std::string> images_downloading;  // image names being pulled now
  std::optional<std::string> broker;            // HOST:PORT with a cluster
  std::optional<size_t> broker_workers;         // when the broker has said how many it has
};

// What the run's jobs are doing: jobs not yet submitted (their layers or image are being
// prepared), waiting for their artifacts, and queued. nullopt when nothing explains the wait.
std::optional<std::string> waiting_reason(const WaitingFacts& facts, size_t submitting,
                                          size_t waiting_for_artifacts, size_t pending);

}  // namespace mael
