#pragma once
// Turns a ContainerConfig into the child::Script the shell walks, owning every
// string and array it points to (all built before the shell starts), and turns
// the shell's failure reports back into JobErrors.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "container/child.h"
#include "container/runtime.h"

namespace mael {

class JobScript {
 public:
  explicit JobScript(const ContainerConfig& config);
  JobScript(const JobScript&) = delete;
  JobScript& operator=(const JobScript&) = delete;

  const child::Script& script() const { return script_; }
  // How many sys mounts the job makes.
  int sys_mounts() const;
  JobError error(const child::Report& report) const;

 private:
  const ContainerConfig& config_;
  std::vector<std::string> lower_strings_;
  std::vector<const char*> lowers_;
  std::vector<std::string> targets_, sources_;  // per op
  std::vector<std::string> what_;               // per op, for messages: "proc mount at /proc"
  std::vector<bool> is_sys_, is_bind_;          // per op
  std::vector<child::MountOp> ops_;
  std::vector<std::string> candidate_strings_;
  std::vector<const char*> candidates_;
  std::vector<char*> argv_, envp_;
  child::Script script_{};
};

// When exec found `program` (absolute, in the container's layers) but said ENOENT: the
// interpreter it names (ELF PT_INTERP or a script's #! line) when no layer has it.
std::optional<std::string> missing_interpreter(const std::vector<std::filesystem::path>& lower_dirs,
                                               const std::string& program);

}  // namespace mael
