#include "spec/resolve.h"

#include <algorithm>

#include "base/error.h"
#include "spec/environment.h"

namespace mael {

namespace {

unsigned bit(ContainerUse u) {
  return 1u << static_cast<unsigned>(u);
}

template <typename T>
void prepend(std::vector<T>& own, const std::vector<T>& ancestor) {
  own.insert(own.begin(), ancestor.begin(), ancestor.end());
}

// A scalar still wanted from ancestors takes the parent's value; it stays wanted while unset.
template <typename T>
bool take(std::optional<T>& field, const std::optional<T>& parent_value) {
  field = parent_value;
  return !field.has_value();
}

}  // namespace

CollapsedContainer collapse_container(const ContainerSpec& spec, const NamedContainers& containers) {
  CollapsedContainer c;
  c.layers = spec.layers;
  c.environment = spec.environment;
  c.mounts = spec.mounts;
  c.network = spec.network;
  c.enable_writable_file_system = spec.enable_writable_file_system;
  c.working_directory = spec.working_directory;
  c.user = spec.user;
  c.group = spec.group;

  // Which fields ancestors may still contribute.
  unsigned want = bit(ContainerUse::Layers) | bit(ContainerUse::Environment) | bit(ContainerUse::Mounts);
  if (!c.enable_writable_file_system) want |= bit(ContainerUse::EnableWritableFileSystem);
  if (!c.working_directory) want |= bit(ContainerUse::WorkingDirectory);
  if (!c.network) want |= bit(ContainerUse::Network);
  if (!c.user) want |= bit(ContainerUse::User);
  if (!c.group) want |= bit(ContainerUse::Group);

  std::vector<std::string> ancestors;
  const ContainerParent* next = &spec.parent;
  while (!std::holds_alternative<std::monostate>(*next)) {
    if (const auto* image = std::get_if<ImageRef>(next)) {
      ImageRef ref{image->name, {}};
      for (ImageUse u : image->use) {
        ContainerUse cu = u == ImageUse::Layers        ? ContainerUse::Layers
                          : u == ImageUse::Environment ? ContainerUse::Environment
                                                       : ContainerUse::WorkingDirectory;
        if ((want & bit(cu)) && std::find(ref.use.begin(), ref.use.end(), u) == ref.use.end())
          ref.use.push_back(u);
      }
      std::sort(ref.use.begin(), ref.use.end());
      if (!ref.use.empty()) c.image = std::move(ref);
      break;
    }
    const auto& cref = std::get<ContainerRef>(*next);
    unsigned use = 0;
    for (ContainerUse u : cref.use) use |= bit(u);
    want &= use;
    if (want == 0) break;
    auto it = containers.find(cref.name);
    if (it == containers.end()) throw UserError("couldn't find parent container \"" + cref.name + "\"");
    if (std::find(ancestors.begin(), ancestors.end(), cref.name) != ancestors.end()) {
      std::string chain = "parent loop found: ";
      for (const auto& a : ancestors) chain += "\"" + a + "\" -> ";
      throw UserError(chain + "\"" + cref.name + "\"");
    }
    ancestors.push_back(cref.name);
    const ContainerSpec& p = it->second;
    unsigned still = 0;
    auto keep = [&](ContainerUse u, bool b) {
      if (b) still |= bit(u);
    };
    if (want & bit(ContainerUse::Layers)) {
      prepend(c.layers, p.layers);
      keep(ContainerUse::Layers, true);
    }
    if (want & bit(ContainerUse::Environment)) {
      prepend(c.environment, p.environment);
      keep(ContainerUse::Environment, true);
    }
    if (want & bit(ContainerUse::Mounts)) {
      prepend(c.mounts, p.mounts);
      keep(ContainerUse::Mounts, true);
    }
    if (want & bit(ContainerUse::EnableWritableFileSystem))
      keep(ContainerUse::EnableWritableFileSystem,
           take(c.enable_writable_file_system, p.enable_writable_file_system));
    if (want & bit(ContainerUse::WorkingDirectory))
      keep(ContainerUse::WorkingDirectory, take(c.working_directory, p.working_directory));
    if (want & bit(ContainerUse::Network)) keep(ContainerUse::Network, take(c.network, p.network));
    if (want & bit(ContainerUse::User)) keep(ContainerUse::User, take(c.user, p.user));
    if (want & bit(ContainerUse::Group)) keep(ContainerUse::Group, take(c.group, p.group));
    want = still;
    next = &p.parent;
  }
  return c;
}

ResolvedContainer finish_container(CollapsedContainer c, const ImageContribution* image, const EnvLookup& env) {
  ResolvedContainer r;
  Environment initial;
  if (c.image) {
    if (image == nullptr)
      throw std::logic_error("finish_container: image " + c.image->name + " not provided");
    for (ImageUse u : c.image->use) {
      switch (u) {
        case ImageUse::Layers: r.layers = image->layers; break;
        case ImageUse::Environment:
          initial = parse_environment_strings(image->environment, "image " + c.image->name);
          break;
        case ImageUse::WorkingDirectory: c.working_directory = image->working_directory; break;
      }
    }
  }
  r.layers.insert(r.layers.end(), std::make_move_iterator(c.layers.begin()),
                  std::make_move_iterator(c.layers.end()));
  r.environment = environment_strings(evaluate_environment(c.environment, std::move(initial), env));
  r.mounts = std::move(c.mounts);
  r.network = c.network.value_or(Network::Disabled);
  r.enable_writable_file_system = c.enable_writable_file_system.value_or(false);
  r.working_directory = c.working_directory.value_or("/");
  r.user = c.user.value_or(0);
  r.group = c.group.value_or(0);
  return r;
}

ResolvedContainer resolve_container(const ContainerSpec& spec, const NamedContainers& containers,
                                    const ImageLookup& lookup_image, const EnvLookup& env) {
  CollapsedContainer c = collapse_container(spec, containers);
  if (!c.image) return finish_container(std::move(c), nullptr, env);
  ImageContribution image = lookup_image(c.image->name);
  return finish_container(std::move(c), &image, env);
}

void check_job_container(const ResolvedContainer& c) {
  if (c.network == Network::Local) {
    for (const Mount& m : c.mounts)
      if (m.type == MountType::Sys)
        throw UserError(
            "a \"sys\" mount is not compatible with `network = \"local\"` (the kernel refuses it): "
            "drop the mount or use another network");
  }
  if (c.layers.empty())
    throw UserError("the job has no layers: specify at least one layer, or use an image that has layers");
}

}  // namespace mael
