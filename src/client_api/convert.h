#pragma once
// Conversions between the client API's messages (proto/items.proto) and the job model of
// spec/spec.h. Requests that cannot be represented (an unknown enum value, a field this
// implementation does not support, a missing required field) throw UserError naming the field
// by its path in the request and what to do instead.
#include <string>

#include "items.pb.h"
#include "spec/spec.h"

namespace mael::client_api {

namespace pb = ::maelstrom_client_base::items;

ContainerSpec container_from_proto(const pb::ContainerSpec& c, const std::string& field);
JobSpec job_from_proto(const pb::JobSpec& j);

// The running states of a job, as RunJob streams them: at the broker with a cluster, at the
// local worker otherwise.
pb::JobStatus running_status(JobState state, bool remote, uint32_t worker_id = 0);
// The broker's number of a worker from its name for a job ("worker N (NAME)"); 0 if none.
uint32_t worker_id_of(const std::string& worker);
pb::JobStatus completed_status(uint32_t client_job_id, const JobOutcome& outcome);

}  // namespace mael::client_api
