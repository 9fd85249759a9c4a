#pragma once
// Reading the job model from a Value tree (value.h), shared by the JSON job-spec reader
// (json_spec.h) and the TOML spec-file pieces (toml_spec.h). Field names, shapes and rules follow
// Maelstrom's job spec format: layers are tables told apart by their kind key ({tar}, {glob},
// {paths}, {stubs}, {symlinks}, {shared_library_dependencies}, {command}); mounts are tables with
// a `type`; an environment is a map (implicit) or a list of {vars, extend} (explicit); `image`
// and `parent` are a string or {name, use}. Every error names the source, position and field.
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spec/spec.h"
#include "spec/value.h"

namespace mael {

// `image` as written: `use` is nullopt when not given (implicitly: everything the image has).
struct ImageRefField {
  std::string name;
  std::optional<std::vector<ImageUse>> use;
  bool operator==(const ImageRefField&) const = default;
};
// `parent` (a named container) as written: `use` nullopt means everything.
struct ContainerRefField {
  std::string name;
  std::optional<std::vector<ContainerUse>> use;
  bool operator==(const ContainerRefField&) const = default;
};

// The container keys of a table as written, before Maelstrom's rules combine them.
struct ContainerFields {
  std::optional<ImageRefField> image;
  std::optional<ContainerRefField> parent;
  std::optional<std::vector<LayerSpec>> layers, added_layers;
  std::optional<std::vector<EnvironmentSpec>> environment, added_environment;
  std::optional<std::string> working_directory;
  std::optional<bool> enable_writable_file_system;
  std::optional<std::vector<Mount>> mounts, added_mounts;
  std::optional<Network> network;
  std::optional<uint32_t> user, group;
  std::map<std::string, SourcePos> key_pos;  // where each given key was written
  SourcePos pos;                             // the table
};

LayerSpec parse_layer(const Value& v, const SpecContext& ctx);
std::vector<LayerSpec> parse_layers(const Value& v, const SpecContext& ctx,
                                    std::string_view field = "layers");
Mount parse_mount(const Value& v, const SpecContext& ctx);
std::vector<Mount> parse_mounts(const Value& v, const SpecContext& ctx, std::string_view field = "mounts");
// Implicit map -> one {vars, extend=true}; explicit list -> as given. Values are syntax-checked.
std::vector<EnvironmentSpec> parse_environment(const Value& v, const SpecContext& ctx,
                                               std::string_view field = "environment");
Network parse_network(const Value& v, const SpecContext& ctx);
ImageRefField parse_image_ref(const Value& v, const SpecContext& ctx);
ContainerRefField parse_container_ref(const Value& v, const SpecContext& ctx);

// Reads the container keys of `table`. Keys in `other_keys` are left to the caller; any other
// key is an "unknown field" error.
ContainerFields parse_container_fields(const Value& table, const SpecContext& ctx,
                                       std::span<const std::string_view> other_keys = {});
// Applies Maelstrom's rules: not both `image` and `parent`; `added_X` needs a parent/image that
// provides X; `X` with an explicit `use` of X is an error; a given `X` drops X from an implicit use.
ContainerSpec to_container_spec(const ContainerFields& fields, const SpecContext& ctx);
ContainerSpec parse_container_spec(const Value& table, const SpecContext& ctx);
// A table NAME -> container spec (maelstrom-run's {"containers": ...}, a spec file's [containers]).
std::map<std::string, ContainerSpec> parse_containers(const Value& table, const SpecContext& ctx);
// A job spec as maelstrom-run reads it: container keys plus program, arguments, timeout (seconds,
// 0 = none) and priority (-128..127).
JobSpec parse_job_spec(const Value& table, const SpecContext& ctx);

// Scalars, with errors naming `field`.
std::string expect_string(const Value& v, const SpecContext& ctx, std::string_view field);
bool expect_bool(const Value& v, const SpecContext& ctx, std::string_view field);
int64_t expect_int(const Value& v, const SpecContext& ctx, std::string_view field, int64_t min, int64_t max);
// The limit keys of a job spec or directive (max_processes, max_memory, max_tmpfs_size; sizes as
// bytes or a string such as "512 MiB"), those present in `table`, into `limits`.
inline constexpr std::string_view kLimitKeys[] = {"max_processes", "max_memory", "max_tmpfs_size"};
void parse_limits(const Value& table, const SpecContext& ctx, JobLimits& limits);
std::vector<std::string> expect_string_list(const Value& v, const SpecContext& ctx, std::string_view field);
const Value& expect_table(const Value& v, const SpecContext& ctx, std::string_view field);
// Throws "unknown field `KEY`, expected one of ..." for the first key of `table` not in `allowed`.
void reject_unknown_keys(const Value& table, const SpecContext& ctx,
                         std::span<const std::string_view> allowed);

const char* image_use_name(ImageUse u);
const char* container_use_name(ContainerUse u);

}  // namespace mael
