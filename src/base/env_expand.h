#pragma once
// Variable expansion in job environment values, as Maelstrom defines it:
//   $env{X}            the client's environment variable X
//   $env{X:-default}   X, or `default` when X is unset or empty
//   $prev{X}           the value X has so far in the job's environment (same `:-` form)
//   $$                 a literal `$`
// Any other `$` is an error, as is a reference to an unset variable without a default.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mael {

// Looks a variable up; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Looks names up in the process environment (getenv).
EnvLookup process_env_lookup();
// Looks names up in a fixed map (tests, or an environment captured once).
EnvLookup map_env_lookup(std::map<std::string, std::string> vars);

// Returns `value` with every reference replaced. Throws UserError("...") naming the problem
// (unknown variable, unterminated `{`, stray `$`); callers add which input it came from.
std::string expand_env_value(std::string_view value, const EnvLookup& env, const EnvLookup& prev);

// Checks the syntax of `value` without looking anything up (so a spec reader can report a bad
// value with its position long before the job's environment is evaluated).
void check_env_value_syntax(std::string_view value);

}  // namespace mael
