#include "runner/waiting_note.h"

namespace mael {

std::optional<std::string> waiting_reason(const WaitingFacts& facts, size_t submitting,
                                          size_t waiting_for_artifacts, size_t pending) {
  std::string at_broker;
  if (facts.broker) at_broker = " the broker at " + *facts.broker;
  if (!facts.images_downloading.empty()) {
    std::string line = "image ";
    for (size_t i = 0; i < facts.images_downloading.size(); ++i) {
      if (i > 0) line += ", ";
      line += facts.images_downloading[i];
    }
    return line + " still downloading";
  }
  if (facts.broker && facts.broker_workers == 0) return "no worker connected to" + at_broker;
  if (waiting_for_artifacts > 0) {
    std::string line = "artifacts still uploading";
    if (facts.broker) line += " to" + at_broker;
    return line + " (" + std::to_string(waiting_for_artifacts) + " jobs wait for them)";
  }
  if (facts.broker && pending > 0)
    return std::to_string(pending) + " jobs queued at" + at_broker +
           ", none started yet: is a worker connected to it?";
  if (submitting > 0) return std::string("the first jobs' layers are still being built");
  return std::nullopt;
}

}  // namespace mael
