#pragma once
// Evaluating a job's environment: the list of EnvironmentSpec (spec.h) applied in order on top
// of an initial environment (the image's, or nothing), expanding $env{}/$prev{} (env_expand.h).
#include <map>
#include <string>
#include <vector>

#include "base/env_expand.h"
#include "spec/spec.h"

namespace mael {

using Environment = std::map<std::string, std::string>;

// Each spec's values are expanded against `env` ($env{}) and the environment as it stood before
// that spec ($prev{}); extend=true adds to (and overrides) it, extend=false replaces it. The
// initial values are taken as they are. Throws UserError "environment variable `K`: ...".
Environment evaluate_environment(const std::vector<EnvironmentSpec>& specs, Environment initial,
                                 const EnvLookup& env);

// "K=V" strings, sorted by name.
std::vector<std::string> environment_strings(const Environment& environment);

// Parses "K=V" strings (an image's config); `what` names their origin in the error for an entry
// without '='.
Environment parse_environment_strings(const std::vector<std::string>& vars, const std::string& what);

}  // namespace mael
