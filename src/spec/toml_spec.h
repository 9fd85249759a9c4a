#pragma once
// The job model's TOML forms, as the test runners' spec files (cargo-maelstrom.toml, ...) write
// them in [[directives]] and [containers.NAME]. The rules live in spec_fields.h; these functions
// convert toml++ nodes to Value trees (keeping line/column) and call them, so errors read
// "FILE: line L column C: what" like the JSON ones. Directive-level keys (filter, timeout, ...)
// belong to the runner: it can call parse_container_fields(toml_to_value(t), ctx, its_keys).
#include <toml++/toml.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "spec/spec.h"
#include "spec/spec_fields.h"
#include "spec/value.h"

namespace mael {

// Parses TOML text; a syntax error becomes UserError "SOURCE: line L column C: what", text over
// the bounds of base/toml_bounds.h "SOURCE: line L: what".
toml::table parse_toml_text(std::string_view text, const std::string& source_name);

// The node and everything under it as a Value tree; table keys in document order.
Value toml_to_value(const toml::node& node);

LayerSpec parse_layer(const toml::node& node, const SpecContext& ctx);
std::vector<LayerSpec> parse_layers(const toml::node& node, const SpecContext& ctx);
Mount parse_mount(const toml::node& node, const SpecContext& ctx);
std::vector<EnvironmentSpec> parse_environment(const toml::node& node, const SpecContext& ctx);
ImageRefField parse_image_ref(const toml::node& node, const SpecContext& ctx);
ContainerRefField parse_container_ref(const toml::node& node, const SpecContext& ctx);
Network parse_network(const toml::node& node, const SpecContext& ctx);
ContainerFields parse_container_fields(const toml::table& table, const SpecContext& ctx,
                                       std::span<const std::string_view> other_keys = {});
ContainerSpec parse_container_spec(const toml::table& table, const SpecContext& ctx);
// The [containers] table: NAME -> container.
std::map<std::string, ContainerSpec> parse_containers(const toml::table& table, const SpecContext& ctx);

}  // namespace mael
