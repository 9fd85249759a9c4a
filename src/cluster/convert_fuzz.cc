// libFuzzer target: a job and a job outcome as a cluster peer sends them (protobuf), converted to
// the job model. Bad input may only end in a UserError; what is accepted converts back and
// forth unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

#include "base/error.h"
#include "cluster/convert.h"

namespace pb = mael::cluster::pb;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs each string field that is not UTF-8; the parse failing is what matters.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pb::ResolvedJob job;
  if (job.ParseFromArray(data, static_cast<int>(size))) {
    try {
      mael::ResolvedJob j = mael::cluster::from_proto(job);
      pb::ResolvedJob again;
      mael::cluster::to_proto(j, &again);
      mael::ResolvedJob k = mael::cluster::from_proto(again);
      if (k.layers != j.layers || k.mounts != j.mounts || k.program != j.program ||
          k.arguments != j.arguments || k.environment != j.environment || k.timeout != j.timeout ||
          k.estimated_duration != j.estimated_duration || k.working_directory != j.working_directory)
        std::abort();
    } catch (const mael::UserError&) {
    }
  }
  pb::JobOutcome outcome;
  if (outcome.ParseFromArray(data, static_cast<int>(size))) {
    try {
      mael::JobOutcome o = mael::cluster::from_proto(outcome);
      pb::JobOutcome again;
      mael::cluster::to_proto(o, &again);
      mael::cluster::from_proto(again);
    } catch (const mael::UserError&) {
    }
  }
  return 0;
}
