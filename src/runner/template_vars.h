#pragma once
// Template variables in spec-file layer paths, as Maelstrom defines them: `<NAME>` is replaced by
// the variable's value (cargo-maelstrom has `<build-dir>`); `<<` escapes a `<` in front of what
// would otherwise be a variable, so `<<build-dir>` is the literal `<build-dir>`. NAME is
// [a-zA-Z-][a-zA-Z0-9-]*; anything else between angle brackets is left alone.
#include <map>
#include <string>
#include <string_view>

#include "spec/spec.h"

namespace mael {

using TemplateVars = std::map<std::string, std::string>;

// Throws UserError("unknown template variable `NAME` in `INPUT`") for a variable not in `vars`.
std::string replace_template_vars(std::string_view input, const TemplateVars& vars);
// Applies replace_template_vars to every path of a layer (not to command layers).
void replace_template_vars(LayerSpec& layer, const TemplateVars& vars);

}  // namespace mael
