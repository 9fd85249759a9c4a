#pragma once
// Turns a ContainerConfig into the job script the container's init walks (a
// relocatable blob, see script_blob.h), and turns the init's failure reports
// back into JobErrors.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "container/child.h"
#include "container/runtime.h"

namespace mael {

class JobScript {
 public:
  // staging: an empty host directory (absolute) to pivot through.
  JobScript(const ContainerConfig& config, const std::string& staging);
  JobScript(const JobScript&) = delete;
  JobScript& operator=(const JobScript&) = delete;

  // The blob to send to the init.
  const std::vector<char>& blob() const { return blob_; }
  JobError error(const child::Report& report) const;

 private:
  const ContainerConfig& config_;
  std::vector<std::string> targets_;    // per op
  std::vector<std::string> what_;       // per op, for messages: "proc mount at /proc"
  std::vector<bool> is_sys_, is_bind_;  // per op
  std::vector<bool> is_shm_;            // per op: the devices mount of /dev/shm (a tmpfs)
  std::vector<std::string> candidate_strings_;
  std::vector<char> blob_;
};

// When exec found `program` (absolute, in the container's layers) but said ENOENT: the
// interpreter it names (ELF PT_INTERP or a script's #! line) when no layer has it.
std::optional<std::string> missing_interpreter(const std::vector<std::filesystem::path>& lower_dirs,
                                               const std::string& program);

}  // namespace mael
