#pragma once
// The job model shared by every part: what a user asks to run (JobSpec with a
// ContainerSpec of LayerSpecs) and what comes back (JobOutcome). Field names
// follow Maelstrom's job spec format.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "spec/shared_strings.h"

namespace mael {

// ---- layers ---------------------------------------------------------------

struct PrefixOptions {
  std::optional<std::string> strip_prefix;
  std::optional<std::string> prepend_prefix;
  bool canonicalize = false;
  bool follow_symlinks = false;
  bool operator==(const PrefixOptions&) const = default;
};

struct TarLayer {
  std::string path;  // relative to the project directory
  bool operator==(const TarLayer&) const = default;
};
struct GlobLayer {
  std::string glob;  // relative to the project directory
  PrefixOptions prefix;
  bool operator==(const GlobLayer&) const = default;
};
struct PathsLayer {
  SharedStrings paths;
  PrefixOptions prefix;
  // The entries get the synthetic timestamp rather than their files' mtimes. Not in spec files:
  // the test runners' layer of a test binary, so that a byte-identical rebuild (after `cargo
  // clean`, say) is the same layer, and its tests keep their cached results.
  bool synthetic_mtimes = false;
  bool operator==(const PathsLayer&) const = default;
};
struct StubsLayer {
  std::vector<std::string> stubs;  // brace-expanded; trailing '/' means directory
  bool operator==(const StubsLayer&) const = default;
};
struct SymlinkSpec {
  std::string link;
  std::string target;
  bool operator==(const SymlinkSpec&) const = default;
};
struct SymlinksLayer {
  std::vector<SymlinkSpec> symlinks;
  bool operator==(const SymlinksLayer&) const = default;
};
struct SharedLibraryDependenciesLayer {
  std::vector<std::string> binary_paths;
  PrefixOptions prefix;
  bool operator==(const SharedLibraryDependenciesLayer&) const = default;
};
struct CommandLayer {
  std::string program;  // its output files (a tar on stdout) become the layer
  std::vector<std::string> arguments;
  bool operator==(const CommandLayer&) const = default;
};

using LayerSpec = std::variant<TarLayer, GlobLayer, PathsLayer, StubsLayer, SymlinksLayer,
                               SharedLibraryDependenciesLayer, CommandLayer>;

// ---- mounts ---------------------------------------------------------------

enum class Device : uint8_t { Full, Fuse, Null, Random, Shm, Tty, Urandom, Zero };
inline constexpr Device kAllDevices[] = {Device::Full,   Device::Fuse, Device::Null,    Device::Random,
                                         Device::Shm,    Device::Tty,  Device::Urandom, Device::Zero};
const char* device_name(Device d);                  // "full", "fuse", ...
std::optional<Device> device_from_name(std::string_view s);

enum class MountType : uint8_t { Bind, Devices, Devpts, Mqueue, Proc, Sys, Tmp };

struct Mount {
  MountType type = MountType::Tmp;
  std::string mount_point;        // all but Devices
  std::string local_path;         // Bind: relative to the project directory
  bool read_only = false;         // Bind
  std::vector<Device> devices;    // Devices
  bool operator==(const Mount&) const = default;
};

enum class Network : uint8_t { Disabled, Loopback, Local };
const char* network_name(Network n);

// ---- environment ----------------------------------------------------------

// One element of an environment list: vars are expanded in order against the
// client's environment ($env{X}, $env{X:-default}) and the value so far
// ($prev{X}); extend=false starts from nothing, extend=true from what came before.
struct EnvironmentSpec {
  std::map<std::string, std::string> vars;
  bool extend = false;
  bool operator==(const EnvironmentSpec&) const = default;
};

// ---- containers -----------------------------------------------------------

enum class ImageUse : uint8_t { Layers, Environment, WorkingDirectory };
enum class ContainerUse : uint8_t {
  Layers, EnableWritableFileSystem, Environment, WorkingDirectory, Mounts, Network, User, Group
};

struct ImageRef {
  std::string name;  // docker://..., oci:DIR, oci-archive:FILE, docker-archive:FILE
  std::vector<ImageUse> use{ImageUse::Layers, ImageUse::Environment};
  bool operator==(const ImageRef&) const = default;
};
struct ContainerRef {
  std::string name;
  std::vector<ContainerUse> use;
  bool operator==(const ContainerRef&) const = default;
};
using ContainerParent = std::variant<std::monostate, ImageRef, ContainerRef>;

struct ContainerSpec {
  ContainerParent parent;
  std::vector<LayerSpec> layers;
  std::vector<EnvironmentSpec> environment;
  std::vector<Mount> mounts;
  std::optional<Network> network;
  std::optional<bool> enable_writable_file_system;
  std::optional<std::string> working_directory;
  std::optional<uint32_t> user;
  std::optional<uint32_t> group;
  bool operator==(const ContainerSpec&) const = default;
};

// ---- jobs -----------------------------------------------------------------

// Resource limits a job asks for (beyond Maelstrom; see docs/security.md):
// each may only lower the one the tool or worker running it is configured
// with (job-max-processes, job-max-memory, job-max-tmpfs-size).
struct JobLimits {
  std::optional<uint64_t> max_processes;
  std::optional<uint64_t> max_memory;      // bytes
  std::optional<uint64_t> max_tmpfs_size;  // bytes
  bool operator==(const JobLimits&) const = default;
};

// Where a job's changes to its root file system are kept (Maelstrom's
// capture_file_system_changes): host directories on one file system, `upper`
// receiving the changes as overlay writes them (deletions as 0/0 character
// devices), `work` overlay's scratch. The root is then writable; the job runs
// on the client's machine only.
struct CaptureFileSystemChanges {
  std::string upper;
  std::string work;
  bool operator==(const CaptureFileSystemChanges&) const = default;
};

// A job with a pseudo-terminal (Maelstrom's allocate_tty): the runtime connects to the Unix
// socket in the abstract namespace `socket_address` names (as Linux's autobind makes them: six
// bytes, the first 0) and relays between it and the terminal (container/tty_stream.h).
struct JobTty {
  std::string socket_address;
  uint16_t rows = 0;
  uint16_t columns = 0;
  bool operator==(const JobTty&) const = default;
};

struct JobSpec {
  ContainerSpec container;
  std::string program;
  std::vector<std::string> arguments;
  std::optional<std::chrono::milliseconds> timeout;
  int32_t priority = 0;
  std::optional<std::chrono::milliseconds> estimated_duration;
  JobLimits limits;
  std::optional<CaptureFileSystemChanges> capture_file_system_changes;
  std::optional<JobTty> allocate_tty;
  bool operator==(const JobSpec&) const = default;
};

// ---- results --------------------------------------------------------------

struct JobOutput {
  std::string first;        // inline bytes (all of it unless truncated)
  uint64_t truncated = 0;   // bytes dropped beyond the inline limit
  bool operator==(const JobOutput&) const = default;
};

struct JobEffects {
  JobOutput stdout_;
  JobOutput stderr_;
  std::chrono::nanoseconds duration{0};
};

struct Exited {
  int code;
};
struct Signaled {
  int signal;
};
struct TimedOut {};
enum class JobErrorKind : uint8_t { Execution, System };
struct JobError {
  JobErrorKind kind;
  std::string message;
};

// A job's end: Exited/Signaled/TimedOut carry effects; JobError does not.
struct JobOutcome {
  std::variant<Exited, Signaled, TimedOut, JobError> result;
  JobEffects effects;
};

// States a job passes through, reported to whoever submitted it.
enum class JobState : uint8_t { WaitingForArtifacts, Pending, Running, Completed };

}  // namespace mael

#include "base/digest.h"

namespace mael {

// What an executor (local or a cluster worker) runs: a JobSpec after the client
// resolved it. Every layer is a tar blob in the artifact store named by its
// SHA-256, bottom to top; the environment is expanded; bind paths are absolute.
struct ResolvedJob {
  std::vector<Digest> layers;
  bool enable_writable_file_system = false;
  std::vector<Mount> mounts;
  Network network = Network::Disabled;
  std::string program;
  std::vector<std::string> arguments;
  std::vector<std::string> environment;  // "NAME=value"
  std::string working_directory = "/";
  uint32_t user = 0;
  uint32_t group = 0;
  std::optional<std::chrono::milliseconds> timeout;
  int32_t priority = 0;
  std::optional<std::chrono::milliseconds> estimated_duration;
  JobLimits limits;
  // Jobs with bind mounts, the host network, a capture or a tty can only run on the client's
  // machine.
  std::optional<CaptureFileSystemChanges> capture_file_system_changes;  // absolute host paths
  std::optional<JobTty> allocate_tty;  // its socket is on the client's machine
  bool must_run_locally() const {
    if (network == Network::Local || capture_file_system_changes || allocate_tty) return true;
    for (const auto& m : mounts)
      if (m.type == MountType::Bind) return true;
    return false;
  }
};

}  // namespace mael
