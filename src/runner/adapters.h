#pragma once
// The small per-runner facts the shared core needs: file names, the filter language and the
// default spec file (what runs when the project has none, and what `--init` writes).
#include <string_view>

#include "runner/filter_language.h"

namespace mael {

struct AdapterInfo {
  std::string_view name;            // "cargo", "go", "pytest"
  std::string_view program;         // "cargo-maelstrom", ...
  std::string_view spec_file_name;  // "cargo-maelstrom.toml", ...
  std::string_view default_spec;    // TOML text
  const FilterLanguage* filter_language;
};

const AdapterInfo& cargo_adapter();
const AdapterInfo& go_adapter();
const AdapterInfo& pytest_adapter();

}  // namespace mael
