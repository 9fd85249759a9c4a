#include "spec/toml_spec.h"

#include <algorithm>

#include "base/error.h"
#include "base/toml_bounds.h"

namespace mael {

namespace {

SourcePos pos_of(const toml::source_region& r) {
  return SourcePos{static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

}  // namespace

toml::table parse_toml_text(std::string_view text, const std::string& source_name) {
  check_toml_bounds(text, source_name);
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    SpecContext(source_name).fail(pos_of(e.source()), std::string(e.description()));
  }
}

Value toml_to_value(const toml::node& node) {
  Value v;
  v.pos = pos_of(node.source());
  switch (node.type()) {
    case toml::node_type::table: {
      v.kind = Value::Kind::Table;
      for (const auto& [key, child] : *node.as_table())
        v.fields.push_back(Value::Field{std::string(key.str()), pos_of(key.source()), toml_to_value(child)});
      // toml++ keeps keys sorted; restore the order they were written in.
      std::stable_sort(v.fields.begin(), v.fields.end(), [](const Value::Field& a, const Value::Field& b) {
        return std::pair(a.key_pos.line, a.key_pos.column) < std::pair(b.key_pos.line, b.key_pos.column);
      });
      break;
    }
    case toml::node_type::array:
      v.kind = Value::Kind::Array;
      for (const toml::node& child : *node.as_array()) v.items.push_back(toml_to_value(child));
      break;
    case toml::node_type::string:
      v.kind = Value::Kind::String;
      v.string = node.as_string()->get();
      break;
    case toml::node_type::integer:
      v.kind = Value::Kind::Int;
      v.integer = node.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      v.kind = Value::Kind::Float;
      v.number = node.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      v.kind = Value::Kind::Bool;
      v.boolean = node.as_boolean()->get();
      break;
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      v.kind = Value::Kind::Other;
      v.string = "a date or time";
      break;
    case toml::node_type::none: break;
  }
  return v;
}

LayerSpec parse_layer(const toml::node& node, const SpecContext& ctx) {
  return parse_layer(toml_to_value(node), ctx);
}
std::vector<LayerSpec> parse_layers(const toml::node& node, const SpecContext& ctx) {
  return parse_layers(toml_to_value(node), ctx);
}
Mount parse_mount(const toml::node& node, const SpecContext& ctx) {
  return parse_mount(toml_to_value(node), ctx);
}
std::vector<EnvironmentSpec> parse_environment(const toml::node& node, const SpecContext& ctx) {
  return parse_environment(toml_to_value(node), ctx);
}
ImageRefField parse_image_ref(const toml::node& node, const SpecContext& ctx) {
  return parse_image_ref(toml_to_value(node), ctx);
}
ContainerRefField parse_container_ref(const toml::node& node, const SpecContext& ctx) {
  return parse_container_ref(toml_to_value(node), ctx);
}
Network parse_network(const toml::node& node, const SpecContext& ctx) {
  return parse_network(toml_to_value(node), ctx);
}
ContainerFields parse_container_fields(const toml::table& table, const SpecContext& ctx,
                                       std::span<const std::string_view> other_keys) {
  return parse_container_fields(toml_to_value(table), ctx, other_keys);
}
ContainerSpec parse_container_spec(const toml::table& table, const SpecContext& ctx) {
  return parse_container_spec(toml_to_value(table), ctx);
}
std::map<std::string, ContainerSpec> parse_containers(const toml::table& table, const SpecContext& ctx) {
  return parse_containers(toml_to_value(table), ctx);
}

}  // namespace mael
