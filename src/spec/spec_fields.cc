#include "spec/spec_fields.h"

#include <algorithm>
#include <array>

#include "base/config.h"
#include "base/env_expand.h"
#include "base/error.h"

namespace mael {

namespace {

std::string quote_list(std::span<const std::string_view> names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += "`" + std::string(names[i]) + "`";
  }
  return out;
}

[[noreturn]] void type_error(const Value& v, const SpecContext& ctx, std::string_view field,
                             std::string_view expected) {
  ctx.fail(v.pos, "field `" + std::string(field) + "`: invalid type: " + v.describe() + ", expected " +
                      std::string(expected));
}

const Value& require(const Value& table, const SpecContext& ctx, std::string_view key) {
  const Value* v = table.find(key);
  if (v == nullptr) ctx.fail(table.pos, "missing field `" + std::string(key) + "`");
  return *v;
}

// An optional field: absent or JSON null (serde reads null as "not given" for optional fields).
const Value* optional_field(const Value& table, std::string_view key) {
  const Value* v = table.find(key);
  return v == nullptr || v->kind == Value::Kind::Null ? nullptr : v;
}

SourcePos key_pos_of(const Value& table, std::string_view key) {
  for (const auto& f : table.fields)
    if (f.key == key) return f.key_pos;
  return table.pos;
}

// ---- use sets as bit masks ---------------------------------------------------

constexpr std::array<ImageUse, 3> kImageUses{ImageUse::Layers, ImageUse::Environment,
                                             ImageUse::WorkingDirectory};
constexpr std::array<ContainerUse, 8> kContainerUses{
    ContainerUse::Layers,      ContainerUse::EnableWritableFileSystem,
    ContainerUse::Environment, ContainerUse::WorkingDirectory,
    ContainerUse::Mounts,      ContainerUse::Network,
    ContainerUse::User,        ContainerUse::Group};

template <typename E>
unsigned bit(E e) {
  return 1u << static_cast<unsigned>(e);
}

template <typename E, size_t N>
unsigned mask_of(const std::optional<std::vector<E>>& use, const std::array<E, N>& all) {
  unsigned m = 0;
  if (!use) {
    for (E e : all) m |= bit(e);
  } else {
    for (E e : *use) m |= bit(e);
  }
  return m;
}
template <typename E>
unsigned explicit_mask(const std::optional<std::vector<E>>& use) {
  unsigned m = 0;
  if (use)
    for (E e : *use) m |= bit(e);
  return m;
}
template <typename E, size_t N>
std::vector<E> uses_of(unsigned m, const std::array<E, N>& all) {
  std::vector<E> out;
  for (E e : all)
    if (m & bit(e)) out.push_back(e);
  return out;
}

template <typename E, size_t N>
std::vector<E> parse_use_list(const Value& v, const SpecContext& ctx, const std::array<E, N>& all,
                              const char* (*name)(E)) {
  if (v.kind != Value::Kind::Array) type_error(v, ctx, "use", "a list of strings");
  unsigned m = 0;
  for (const Value& item : v.items) {
    if (item.kind != Value::Kind::String) type_error(item, ctx, "use", "a string");
    bool found = false;
    for (E e : all) {
      if (item.string == name(e)) {
        m |= bit(e);
        found = true;
      }
    }
    if (!found) {
      std::vector<std::string_view> names;
      for (E e : all) names.push_back(name(e));
      ctx.fail(item.pos,
               "field `use`: unknown variant `" + item.string + "`, expected one of " + quote_list(names));
    }
  }
  return uses_of(m, all);
}

// ---- layers ---------------------------------------------------------------------

constexpr std::string_view kPrefixKeys[] = {"strip_prefix", "prepend_prefix", "canonicalize",
                                            "follow_symlinks"};

PrefixOptions parse_prefix_options(const Value& t, const SpecContext& ctx) {
  PrefixOptions p;
  if (const Value* v = optional_field(t, "strip_prefix"))
    p.strip_prefix = expect_string(*v, ctx, "strip_prefix");
  if (const Value* v = optional_field(t, "prepend_prefix"))
    p.prepend_prefix = expect_string(*v, ctx, "prepend_prefix");
  if (const Value* v = t.find("canonicalize")) p.canonicalize = expect_bool(*v, ctx, "canonicalize");
  if (const Value* v = t.find("follow_symlinks")) p.follow_symlinks = expect_bool(*v, ctx, "follow_symlinks");
  return p;
}

void reject_unknown_with_prefix(const Value& t, const SpecContext& ctx, std::string_view kind_key) {
  std::vector<std::string_view> allowed{kind_key};
  allowed.insert(allowed.end(), std::begin(kPrefixKeys), std::end(kPrefixKeys));
  reject_unknown_keys(t, ctx, allowed);
}

constexpr std::string_view kLayerKinds[] = {
    "tar", "glob", "paths", "stubs", "symlinks", "shared_library_dependencies", "command"};

}  // namespace

const char* image_use_name(ImageUse u) {
  switch (u) {
    case ImageUse::Layers: return "layers";
    case ImageUse::Environment: return "environment";
    case ImageUse::WorkingDirectory: return "working_directory";
  }
  return "?";
}

const char* container_use_name(ContainerUse u) {
  switch (u) {
    case ContainerUse::Layers: return "layers";
    case ContainerUse::EnableWritableFileSystem: return "enable_writable_file_system";
    case ContainerUse::Environment: return "environment";
    case ContainerUse::WorkingDirectory: return "working_directory";
    case ContainerUse::Mounts: return "mounts";
    case ContainerUse::Network: return "network";
    case ContainerUse::User: return "user";
    case ContainerUse::Group: return "group";
  }
  return "?";
}

// ---- scalars -------------------------------------------------------------------

std::string expect_string(const Value& v, const SpecContext& ctx, std::string_view field) {
  if (v.kind != Value::Kind::String) type_error(v, ctx, field, "a string");
  // Every string ends up a path, an argument or a variable, all C strings: a NUL would cut it short.
  if (v.string.find('\0') != std::string::npos)
    ctx.fail(v.pos,
             "field `" + std::string(field) + "`: a NUL character (\\u0000) cannot be passed to a program");
  return v.string;
}

bool expect_bool(const Value& v, const SpecContext& ctx, std::string_view field) {
  if (v.kind != Value::Kind::Bool) type_error(v, ctx, field, "a boolean");
  return v.boolean;
}

int64_t expect_int(const Value& v, const SpecContext& ctx, std::string_view field, int64_t min, int64_t max) {
  std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (v.kind != Value::Kind::Int) type_error(v, ctx, field, range);
  if (v.integer < min || v.integer > max)
    ctx.fail(v.pos,
             "field `" + std::string(field) + "`: invalid value: " + v.describe() + ", expected " + range);
  return v.integer;
}

std::vector<std::string> expect_string_list(const Value& v, const SpecContext& ctx, std::string_view field) {
  if (v.kind != Value::Kind::Array) type_error(v, ctx, field, "a list of strings");
  std::vector<std::string> out;
  for (const Value& item : v.items) out.push_back(expect_string(item, ctx, field));
  return out;
}

const Value& expect_table(const Value& v, const SpecContext& ctx, std::string_view field) {
  if (!v.is_table()) type_error(v, ctx, field, "a map");
  return v;
}

void reject_unknown_keys(const Value& table, const SpecContext& ctx,
                         std::span<const std::string_view> allowed) {
  for (const auto& f : table.fields) {
    if (std::find(allowed.begin(), allowed.end(), f.key) == allowed.end())
      ctx.fail(f.key_pos, "unknown field `" + f.key + "`, expected one of " + quote_list(allowed));
  }
}

// ---- layers ----------------------------------------------------------------------

LayerSpec parse_layer(const Value& v, const SpecContext& ctx) {
  if (!v.is_table())
    ctx.fail(v.pos, "invalid layer: " + v.describe() +
                        ", expected a map such as { tar = \"FILE\" } or { \"tar\": \"FILE\" }");
  // The kind is the first key that names one; the other keys must then belong to that kind.
  std::string_view kind;
  for (const auto& f : v.fields) {
    auto it = std::find(std::begin(kLayerKinds), std::end(kLayerKinds), f.key);
    if (it != std::end(kLayerKinds)) {
      kind = *it;
      break;
    }
  }
  if (kind.empty())
    ctx.fail(v.pos,
             "couldn't determine layer type: a layer needs one of the keys " + quote_list(kLayerKinds));
  const Value& main = *v.find(kind);
  if (kind == "tar") {
    reject_unknown_keys(v, ctx, std::array<std::string_view, 1>{"tar"});
    return TarLayer{expect_string(main, ctx, "tar")};
  }
  if (kind == "glob") {
    reject_unknown_with_prefix(v, ctx, kind);
    return GlobLayer{expect_string(main, ctx, "glob"), parse_prefix_options(v, ctx)};
  }
  if (kind == "paths") {
    reject_unknown_with_prefix(v, ctx, kind);
    return PathsLayer{expect_string_list(main, ctx, "paths"), parse_prefix_options(v, ctx)};
  }
  if (kind == "stubs") {
    reject_unknown_keys(v, ctx, std::array<std::string_view, 1>{"stubs"});
    return StubsLayer{expect_string_list(main, ctx, "stubs")};
  }
  if (kind == "symlinks") {
    reject_unknown_keys(v, ctx, std::array<std::string_view, 1>{"symlinks"});
    if (main.kind != Value::Kind::Array) type_error(main, ctx, "symlinks", "a list of { link, target } maps");
    SymlinksLayer layer;
    for (const Value& item : main.items) {
      expect_table(item, ctx, "symlinks");
      reject_unknown_keys(item, ctx, std::array<std::string_view, 2>{"link", "target"});
      layer.symlinks.push_back(SymlinkSpec{expect_string(require(item, ctx, "link"), ctx, "link"),
                                           expect_string(require(item, ctx, "target"), ctx, "target")});
    }
    return layer;
  }
  if (kind == "shared_library_dependencies") {
    reject_unknown_with_prefix(v, ctx, kind);
    return SharedLibraryDependenciesLayer{expect_string_list(main, ctx, kind), parse_prefix_options(v, ctx)};
  }
  // command: "prog" or ["prog", "arg", ...]
  reject_unknown_keys(v, ctx, std::array<std::string_view, 1>{"command"});
  if (main.kind == Value::Kind::String) return CommandLayer{main.string, {}};
  if (main.kind != Value::Kind::Array) type_error(main, ctx, "command", "a string or a list of strings");
  std::vector<std::string> argv = expect_string_list(main, ctx, "command");
  if (argv.empty()) ctx.fail(main.pos, "command layer must at least specify the program");
  CommandLayer layer{argv.front(), {}};
  layer.arguments.assign(argv.begin() + 1, argv.end());
  return layer;
}

std::vector<LayerSpec> parse_layers(const Value& v, const SpecContext& ctx, std::string_view field) {
  if (v.kind != Value::Kind::Array) type_error(v, ctx, field, "a list of layers");
  std::vector<LayerSpec> out;
  for (const Value& item : v.items) out.push_back(parse_layer(item, ctx));
  return out;
}

// ---- mounts ----------------------------------------------------------------------

Mount parse_mount(const Value& v, const SpecContext& ctx) {
  if (!v.is_table()) type_error(v, ctx, "mounts", "a map with a `type`");
  std::string type = expect_string(require(v, ctx, "type"), ctx, "type");
  static constexpr std::pair<std::string_view, MountType> kTypes[] = {
      {"bind", MountType::Bind},     {"devices", MountType::Devices}, {"devpts", MountType::Devpts},
      {"mqueue", MountType::Mqueue}, {"proc", MountType::Proc},       {"sys", MountType::Sys},
      {"tmp", MountType::Tmp}};
  Mount m;
  bool found = false;
  for (const auto& [name, t] : kTypes) {
    if (type == name) {
      m.type = t;
      found = true;
    }
  }
  if (!found) {
    std::vector<std::string_view> names;
    for (const auto& [name, t] : kTypes) names.push_back(name);
    ctx.fail(v.find("type")->pos,
             "field `type`: unknown mount type `" + type + "`, expected one of " + quote_list(names));
  }
  if (m.type == MountType::Devices) {
    reject_unknown_keys(v, ctx, std::array<std::string_view, 2>{"type", "devices"});
    const Value& devs = require(v, ctx, "devices");
    if (devs.kind != Value::Kind::Array) type_error(devs, ctx, "devices", "a list of device names");
    unsigned mask = 0;
    for (const Value& d : devs.items) {
      std::string name = expect_string(d, ctx, "devices");
      std::optional<Device> dev = device_from_name(name);
      if (!dev) {
        std::vector<std::string_view> names;
        for (Device x : kAllDevices) names.push_back(device_name(x));
        ctx.fail(d.pos,
                 "field `devices`: unknown device `" + name + "`, expected one of " + quote_list(names));
      }
      mask |= bit(*dev);
    }
    for (Device x : kAllDevices)  // a set: each once, in a fixed order
      if (mask & bit(x)) m.devices.push_back(x);
    return m;
  }
  if (m.type == MountType::Bind) {
    reject_unknown_keys(v, ctx,
                        std::array<std::string_view, 4>{"type", "mount_point", "local_path", "read_only"});
    m.local_path = expect_string(require(v, ctx, "local_path"), ctx, "local_path");
    if (const Value* ro = v.find("read_only")) m.read_only = expect_bool(*ro, ctx, "read_only");
  } else {
    reject_unknown_keys(v, ctx, std::array<std::string_view, 2>{"type", "mount_point"});
  }
  const Value& mp = require(v, ctx, "mount_point");
  m.mount_point = expect_string(mp, ctx, "mount_point");
  // As in Maelstrom, a relative mount point is taken from the container's root ("tmp" is "/tmp").
  if (!m.mount_point.starts_with('/')) m.mount_point.insert(0, 1, '/');
  if (m.mount_point == "/") ctx.fail(mp.pos, "field `mount_point`: a path of \"/\" is not allowed");
  return m;
}

std::vector<Mount> parse_mounts(const Value& v, const SpecContext& ctx, std::string_view field) {
  if (v.kind != Value::Kind::Array) type_error(v, ctx, field, "a list of mounts");
  std::vector<Mount> out;
  for (const Value& item : v.items) out.push_back(parse_mount(item, ctx));
  return out;
}

// ---- environment ------------------------------------------------------------------

namespace {

std::map<std::string, std::string> parse_vars(const Value& t, const SpecContext& ctx) {
  std::map<std::string, std::string> vars;
  for (const auto& f : t.fields) {
    if (f.key.empty() || f.key.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
      ctx.fail(f.value.pos,
               "environment variable name `" + f.key + "`: a name must be non-empty, without `=`");
    std::string val = expect_string(f.value, ctx, f.key);
    try {
      check_env_value_syntax(val);
    } catch (const UserError& e) {
      ctx.fail(f.value.pos, "environment variable `" + f.key + "`: " + e.what());
    }
    vars[f.key] = std::move(val);
  }
  return vars;
}

}  // namespace

std::vector<EnvironmentSpec> parse_environment(const Value& v, const SpecContext& ctx,
                                               std::string_view field) {
  if (v.is_table()) return {EnvironmentSpec{parse_vars(v, ctx), true}};
  if (v.kind != Value::Kind::Array)
    type_error(v, ctx, field, "a map of variables or a list of { vars, extend } maps");
  std::vector<EnvironmentSpec> out;
  for (const Value& item : v.items) {
    expect_table(item, ctx, field);
    reject_unknown_keys(item, ctx, std::array<std::string_view, 2>{"vars", "extend"});
    const Value& vars = require(item, ctx, "vars");
    expect_table(vars, ctx, "vars");
    out.push_back(
        EnvironmentSpec{parse_vars(vars, ctx), expect_bool(require(item, ctx, "extend"), ctx, "extend")});
  }
  return out;
}

Network parse_network(const Value& v, const SpecContext& ctx) {
  std::string s = expect_string(v, ctx, "network");
  for (Network n : {Network::Disabled, Network::Loopback, Network::Local})
    if (s == network_name(n)) return n;
  ctx.fail(v.pos,
           "field `network`: unknown network `" + s + "`, expected one of `disabled`, `loopback`, `local`");
}

ImageRefField parse_image_ref(const Value& v, const SpecContext& ctx) {
  if (v.kind == Value::Kind::String) return ImageRefField{v.string, std::nullopt};
  if (!v.is_table()) type_error(v, ctx, "image", "a string or a map with `name` and `use`");
  reject_unknown_keys(v, ctx, std::array<std::string_view, 2>{"name", "use"});
  ImageRefField r{expect_string(require(v, ctx, "name"), ctx, "name"), std::nullopt};
  if (const Value* use = optional_field(v, "use"))
    r.use = parse_use_list(*use, ctx, kImageUses, image_use_name);
  return r;
}

ContainerRefField parse_container_ref(const Value& v, const SpecContext& ctx) {
  if (v.kind == Value::Kind::String) return ContainerRefField{v.string, std::nullopt};
  if (!v.is_table()) type_error(v, ctx, "parent", "a string or a map with `name` and `use`");
  reject_unknown_keys(v, ctx, std::array<std::string_view, 2>{"name", "use"});
  ContainerRefField r{expect_string(require(v, ctx, "name"), ctx, "name"), std::nullopt};
  if (const Value* use = optional_field(v, "use"))
    r.use = parse_use_list(*use, ctx, kContainerUses, container_use_name);
  return r;
}

// ---- containers --------------------------------------------------------------------

namespace {
constexpr std::string_view kContainerKeys[] = {"image",
                                               "parent",
                                               "layers",
                                               "added_layers",
                                               "environment",
                                               "added_environment",
                                               "working_directory",
                                               "enable_writable_file_system",
                                               "mounts",
                                               "added_mounts",
                                               "network",
                                               "user",
                                               "group"};
}  // namespace

ContainerFields parse_container_fields(const Value& table, const SpecContext& ctx,
                                       std::span<const std::string_view> other_keys) {
  if (!table.is_table()) ctx.fail(table.pos, "invalid type: " + table.describe() + ", expected a map");
  std::vector<std::string_view> allowed(std::begin(kContainerKeys), std::end(kContainerKeys));
  allowed.insert(allowed.end(), other_keys.begin(), other_keys.end());
  reject_unknown_keys(table, ctx, allowed);
  ContainerFields c;
  c.pos = table.pos;
  constexpr uint32_t kMaxId = 0xffffffffu;
  for (const auto& f : table.fields) {
    const std::string& k = f.key;
    const Value& v = f.value;
    if (std::find(other_keys.begin(), other_keys.end(), k) != other_keys.end()) continue;
    if (v.kind == Value::Kind::Null) continue;  // null: not given
    c.key_pos[k] = f.key_pos;
    if (k == "image")
      c.image = parse_image_ref(v, ctx);
    else if (k == "parent")
      c.parent = parse_container_ref(v, ctx);
    else if (k == "layers")
      c.layers = parse_layers(v, ctx, k);
    else if (k == "added_layers")
      c.added_layers = parse_layers(v, ctx, k);
    else if (k == "environment")
      c.environment = parse_environment(v, ctx, k);
    else if (k == "added_environment")
      c.added_environment = parse_environment(v, ctx, k);
    else if (k == "working_directory")
      c.working_directory = expect_string(v, ctx, k);
    else if (k == "enable_writable_file_system")
      c.enable_writable_file_system = expect_bool(v, ctx, k);
    else if (k == "mounts")
      c.mounts = parse_mounts(v, ctx, k);
    else if (k == "added_mounts")
      c.added_mounts = parse_mounts(v, ctx, k);
    else if (k == "network")
      c.network = parse_network(v, ctx);
    else if (k == "user")
      c.user = static_cast<uint32_t>(expect_int(v, ctx, k, 0, kMaxId));
    else if (k == "group")
      c.group = static_cast<uint32_t>(expect_int(v, ctx, k, 0, kMaxId));
  }
  return c;
}

namespace {

// Maelstrom's rules for one list field X with its added_X companion (layers, environment,
// mounts). `image_bit`/`parent_bit` are X's bits in the use sets (image_bit 0 when an image
// cannot provide X). Returns the effective list and clears X from the implicit use sets.
template <typename T>
std::vector<T> combine_list(const ContainerFields& c, const SpecContext& ctx, std::string_view name,
                            const std::optional<std::vector<T>>& plain,
                            const std::optional<std::vector<T>>& added, unsigned image_bit,
                            unsigned parent_bit, unsigned& image_drop, unsigned& parent_drop) {
  std::string n(name);
  auto pos = [&](const std::string& key) {
    auto it = c.key_pos.find(key);
    return it == c.key_pos.end() ? c.pos : it->second;
  };
  if (!plain && !added) return {};
  if (plain && added)
    ctx.fail(pos("added_" + n), "field `added_" + n + "` cannot be set with `" + n + "` field");
  bool image_can = image_bit != 0;
  if (added) {
    if (c.image && image_can) {
      if (!(mask_of(c.image->use, kImageUses) & image_bit))
        ctx.fail(pos("added_" + n), "field `added_" + n +
                                        "` requires `image` being specified with a `use` of `" + n +
                                        "` (try `" + n + "` instead)");
      return *added;
    }
    if (c.parent) {
      if (!(mask_of(c.parent->use, kContainerUses) & parent_bit))
        ctx.fail(pos("added_" + n), "field `added_" + n +
                                        "` requires `parent` being specified with a `use` of `" + n +
                                        "` (try `" + n + "` instead)");
      return *added;
    }
    ctx.fail(pos("added_" + n), "field `added_" + n + "` cannot be set without " +
                                    std::string(image_can ? "`image` or `parent`" : "`parent`") +
                                    " also being specified (try `" + n + "` instead)");
  }
  if (c.image && image_can) {
    if (explicit_mask(c.image->use) & image_bit)
      ctx.fail(pos(n), "field `" + n + "` cannot be set if `image` with an explicit `use` of `" + n +
                           "` is also specified (try `added_" + n + "` instead)");
    image_drop |= image_bit;
  }
  if (c.parent) {
    if (explicit_mask(c.parent->use) & parent_bit)
      ctx.fail(pos(n), "field `" + n + "` cannot be set if `parent` with an explicit `use` of `" + n +
                           "` is also specified (try `added_" + n + "` instead)");
    parent_drop |= parent_bit;
  }
  return *plain;
}

// A scalar field X set next to a parent/image: an explicit use of X is an error; an implicit
// use loses X.
void combine_scalar(const ContainerFields& c, const SpecContext& ctx, std::string_view name, bool given,
                    unsigned image_bit, unsigned parent_bit, unsigned& image_drop, unsigned& parent_drop) {
  if (!given) return;
  std::string n(name);
  SourcePos pos = c.key_pos.count(n) ? c.key_pos.at(n) : c.pos;
  if (c.image && image_bit) {
    if (explicit_mask(c.image->use) & image_bit)
      ctx.fail(pos, "field `" + n + "` cannot be set if `image` with an explicit `use` of `" + n +
                        "` is also specified");
    image_drop |= image_bit;
  }
  if (c.parent) {
    if (explicit_mask(c.parent->use) & parent_bit)
      ctx.fail(pos, "field `" + n + "` cannot be set if `parent` with an explicit `use` of `" + n +
                        "` is also specified");
    parent_drop |= parent_bit;
  }
}

}  // namespace

ContainerSpec to_container_spec(const ContainerFields& c, const SpecContext& ctx) {
  if (c.image && c.parent) {
    SourcePos p = c.key_pos.count("parent") ? c.key_pos.at("parent") : c.pos;
    ctx.fail(p, "both `image` and `parent` cannot be specified");
  }
  unsigned image_drop = 0, parent_drop = 0;
  ContainerSpec s;
  s.layers = combine_list(c, ctx, "layers", c.layers, c.added_layers, bit(ImageUse::Layers),
                          bit(ContainerUse::Layers), image_drop, parent_drop);
  s.environment =
      combine_list(c, ctx, "environment", c.environment, c.added_environment, bit(ImageUse::Environment),
                   bit(ContainerUse::Environment), image_drop, parent_drop);
  combine_scalar(c, ctx, "working_directory", c.working_directory.has_value(),
                 bit(ImageUse::WorkingDirectory), bit(ContainerUse::WorkingDirectory), image_drop,
                 parent_drop);
  combine_scalar(c, ctx, "enable_writable_file_system", c.enable_writable_file_system.has_value(), 0,
                 bit(ContainerUse::EnableWritableFileSystem), image_drop, parent_drop);
  s.mounts = combine_list(c, ctx, "mounts", c.mounts, c.added_mounts, 0, bit(ContainerUse::Mounts),
                          image_drop, parent_drop);
  combine_scalar(c, ctx, "network", c.network.has_value(), 0, bit(ContainerUse::Network), image_drop,
                 parent_drop);
  combine_scalar(c, ctx, "user", c.user.has_value(), 0, bit(ContainerUse::User), image_drop, parent_drop);
  combine_scalar(c, ctx, "group", c.group.has_value(), 0, bit(ContainerUse::Group), image_drop, parent_drop);
  if (c.image) {
    s.parent = ImageRef{c.image->name, uses_of(mask_of(c.image->use, kImageUses) & ~image_drop, kImageUses)};
  } else if (c.parent) {
    s.parent = ContainerRef{c.parent->name,
                            uses_of(mask_of(c.parent->use, kContainerUses) & ~parent_drop, kContainerUses)};
  }
  s.working_directory = c.working_directory;
  s.enable_writable_file_system = c.enable_writable_file_system;
  s.network = c.network;
  s.user = c.user;
  s.group = c.group;
  return s;
}

ContainerSpec parse_container_spec(const Value& table, const SpecContext& ctx) {
  return to_container_spec(parse_container_fields(table, ctx), ctx);
}

std::map<std::string, ContainerSpec> parse_containers(const Value& table, const SpecContext& ctx) {
  if (!table.is_table()) type_error(table, ctx, "containers", "a map from container names to containers");
  std::map<std::string, ContainerSpec> out;
  for (const auto& f : table.fields) out[f.key] = parse_container_spec(f.value, ctx);
  return out;
}

namespace {

uint64_t expect_size(const Value& v, const SpecContext& ctx, std::string_view field) {
  const std::string expected = "a number of bytes from 1, or a size such as \"512 MiB\"";
  if (v.kind == Value::Kind::Int) {
    if (v.integer < 1)
      ctx.fail(v.pos, "field `" + std::string(field) + "`: invalid value: " + v.describe() + ", expected " +
                          expected);
    return static_cast<uint64_t>(v.integer);
  }
  if (v.kind != Value::Kind::String) type_error(v, ctx, field, expected);
  std::optional<uint64_t> bytes = parse_byte_size(v.string);
  if (!bytes || *bytes == 0)
    ctx.fail(v.pos, "field `" + std::string(field) + "`: invalid value: " + v.describe() + ", expected " + expected);
  return *bytes;
}

}  // namespace

void parse_limits(const Value& table, const SpecContext& ctx, JobLimits& limits) {
  if (const Value* v = optional_field(table, "max_processes"))
    limits.max_processes = static_cast<uint64_t>(expect_int(*v, ctx, "max_processes", 1, 1LL << 30));
  if (const Value* v = optional_field(table, "max_memory")) limits.max_memory = expect_size(*v, ctx, "max_memory");
  if (const Value* v = optional_field(table, "max_tmpfs_size"))
    limits.max_tmpfs_size = expect_size(*v, ctx, "max_tmpfs_size");
}

JobSpec parse_job_spec(const Value& table, const SpecContext& ctx) {
  static constexpr std::string_view kJobKeys[] = {"program",       "arguments",  "timeout",       "priority",
                                                  "max_processes", "max_memory", "max_tmpfs_size"};
  ContainerFields fields = parse_container_fields(table, ctx, kJobKeys);
  JobSpec job;
  job.container = to_container_spec(fields, ctx);
  job.program = expect_string(require(table, ctx, "program"), ctx, "program");
  if (job.program.empty()) ctx.fail(key_pos_of(table, "program"), "field `program` must not be empty");
  if (const Value* v = optional_field(table, "arguments"))
    job.arguments = expect_string_list(*v, ctx, "arguments");
  if (const Value* v = optional_field(table, "timeout")) {
    int64_t secs = expect_int(*v, ctx, "timeout", 0, 0xffffffffLL);
    if (secs != 0) job.timeout = std::chrono::milliseconds(secs * 1000);  // 0 means no timeout
  }
  if (const Value* v = optional_field(table, "priority"))
    job.priority = static_cast<int32_t>(expect_int(*v, ctx, "priority", -128, 127));
  parse_limits(table, ctx, job.limits);
  return job;
}

}  // namespace mael
