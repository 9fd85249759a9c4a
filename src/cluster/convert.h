#pragma once
// Converts the job model between spec/spec.h and its protobuf mirror in
// proto/cluster.proto. The from_proto direction checks what a peer sent and
// throws UserError naming the bad field, so a malformed message cannot crash
// the broker or a worker.
#include "cluster.pb.h"
#include "spec/spec.h"

namespace mael::cluster {

namespace pb = ::mael::cluster::v1;

void to_proto(const ResolvedJob& job, pb::ResolvedJob* out);
ResolvedJob from_proto(const pb::ResolvedJob& job);

void to_proto(const JobOutcome& outcome, pb::JobOutcome* out);
JobOutcome from_proto(const pb::JobOutcome& outcome);

pb::JobState to_proto(JobState s);
JobState from_proto(pb::JobState s);

// Raw 32 bytes <-> Digest; throws UserError on a wrong length.
std::string digest_bytes(const Digest& d);
Digest digest_from_bytes(const std::string& bytes);

}  // namespace mael::cluster
