#pragma once
// Collapsing a container spec with its chain of parents (named containers, then possibly an
// image) into one flat container, following Maelstrom's `use` semantics: walking from the job up
// the chain, a parent contributes only the fields its reference `use`s and that no nearer spec
// set; list fields (layers, environment, mounts) accumulate, ancestors' entries first; scalar
// fields (network, user, ...) come from the nearest spec that sets them.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/env_expand.h"
#include "spec/spec.h"

namespace mael {

// What an image contributes, as the image code provides it.
struct ImageContribution {
  std::vector<LayerSpec> layers;         // bottom to top, e.g. TarLayer with absolute paths
  std::vector<std::string> environment;  // "K=V"
  std::optional<std::string> working_directory;
};
using ImageLookup = std::function<ImageContribution(const std::string& name)>;
using NamedContainers = std::map<std::string, ContainerSpec>;

// Step 1: the chain of named containers collapsed; `image` (if set) still has to be fetched and
// merged, and only the parts in its `use` are wanted.
struct CollapsedContainer {
  std::optional<ImageRef> image;
  std::vector<LayerSpec> layers;  // the image's layers not included
  std::vector<EnvironmentSpec> environment;
  std::vector<Mount> mounts;
  std::optional<Network> network;
  std::optional<bool> enable_writable_file_system;
  std::optional<std::string> working_directory;
  std::optional<uint32_t> user;
  std::optional<uint32_t> group;
  bool operator==(const CollapsedContainer&) const = default;
};

struct ResolvedContainer {
  std::vector<LayerSpec> layers;         // the image's first, bottom to top
  std::vector<std::string> environment;  // "K=V", sorted
  std::vector<Mount> mounts;
  Network network = Network::Disabled;
  bool enable_writable_file_system = false;
  std::string working_directory = "/";
  uint32_t user = 0;
  uint32_t group = 0;
  bool operator==(const ResolvedContainer&) const = default;
};

// Throws UserError for an unknown parent container or a parent loop.
CollapsedContainer collapse_container(const ContainerSpec& spec, const NamedContainers& containers);

// Step 2: merges the image (required when collapsed.image is set, else ignored) and evaluates
// the environment against `env`.
ResolvedContainer finish_container(CollapsedContainer collapsed, const ImageContribution* image,
                                   const EnvLookup& env);

// Both steps; lookup_image is called only when an image is used.
ResolvedContainer resolve_container(const ContainerSpec& spec, const NamedContainers& containers,
                                    const ImageLookup& lookup_image, const EnvLookup& env);

// What a job's container must satisfy: at least one layer, and no `sys` mount with the host
// network (the kernel refuses it). Throws UserError.
void check_job_container(const ResolvedContainer& container);

}  // namespace mael
