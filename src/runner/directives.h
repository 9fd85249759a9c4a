#pragma once
// The test runners' spec file (cargo-maelstrom.toml, maelstrom-go-test.toml,
// maelstrom-pytest.toml): `[[directives]]` applied in file order to every test their filter
// matches, and `[containers.NAME]` that directives and other containers name as `parent`.
//
// Directive semantics (Maelstrom's): a directive with `image` or `parent` replaces the whole
// container spec so far with its own (checked by the named-container rules: `added_X` needs a
// parent that provides X, and so on). A directive without them edits the spec so far: `X`
// replaces the list or value, `added_X` appends, always allowed. `timeout`, `ignore`, `cache`,
// `retries`, `slow_timeout` and `include_shared_libraries` are kept across container replacement;
// `timeout = 0` means none.
// `include_shared_libraries` defaults to true unless the spec's parent chain takes its layers
// from an image.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/filter.h"
#include "runner/template_vars.h"
#include "spec/spec.h"
#include "spec/spec_fields.h"

namespace mael {

struct Directive {
  std::optional<Filter> filter;  // none: every test
  bool replaces_container = false;
  ContainerSpec container;  // replaces_container: the directive's complete container spec
  ContainerFields fields;   // otherwise: the container keys as written
  std::optional<bool> include_shared_libraries;
  // Outer optional: given or not; inner nullopt: `timeout = 0`, no timeout.
  std::optional<std::optional<std::chrono::milliseconds>> timeout;
  // `slow_timeout` (seconds): when a test still running is reported SLOW; 0: never.
  std::optional<std::optional<std::chrono::milliseconds>> slow_timeout;
  std::optional<size_t> retries;  // `retries`: runs again after a failure, at most this often
  std::optional<bool> cache;      // `cache = false`: never reported CACHED, always run
  std::optional<bool> ignore;
  JobLimits limits;  // each given one replaces an earlier directive's
  SourcePos pos;
};

// What the directives say about one test.
struct TestMetadata {
  ContainerSpec container;
  bool include_shared_libraries = true;
  std::optional<std::chrono::milliseconds> timeout;
  // Outer nullopt: no directive said (the `slow-timeout` config value applies).
  std::optional<std::optional<std::chrono::milliseconds>> slow_timeout;
  std::optional<size_t> retries;  // nullopt: no directive said (the `retries` value applies)
  bool cache = true;              // false: the result of its last pass is never reused
  bool ignore = false;
  JobLimits limits;
  bool operator==(const TestMetadata&) const = default;
};

class TestSpecFile {
 public:
  // Parses the file's text. `source` names it in errors ("FILE: line L column C: ...").
  // Layer paths get `vars` substituted. Throws UserError.
  static TestSpecFile parse(std::string_view text, const std::string& source, const FilterLanguage& lang,
                            const TemplateVars& vars = {});
  // Reads `path`, or parses `default_text` when the file does not exist.
  static TestSpecFile load(const std::filesystem::path& path, std::string_view default_text,
                           const FilterLanguage& lang, const TemplateVars& vars = {});

  // Folds every directive whose filter matches `test` (which should have all fields known).
  // Throws UserError for a parent chain naming a missing container or looping.
  TestMetadata metadata_for(const FilterFields& test) const;

  const std::vector<Directive>& directives() const { return directives_; }
  const std::map<std::string, ContainerSpec>& containers() const { return containers_; }

 private:
  bool uses_image_layers(const ContainerParent& parent) const;

  std::string source_;
  std::vector<Directive> directives_;
  std::map<std::string, ContainerSpec> containers_;
};

// Writes `text` to `path` for `--init`; throws UserError when the file already exists.
void write_default_spec_file(const std::filesystem::path& path, std::string_view text);

}  // namespace mael
