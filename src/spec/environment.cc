#include "spec/environment.h"

#include "base/error.h"

namespace mael {

Environment evaluate_environment(const std::vector<EnvironmentSpec>& specs, Environment initial,
                                 const EnvLookup& env) {
  Environment running = std::move(initial);
  for (const EnvironmentSpec& spec : specs) {
    EnvLookup prev = [&running](std::string_view name) -> std::optional<std::string> {
      auto it = running.find(std::string(name));
      if (it == running.end()) return std::nullopt;
      return it->second;
    };
    Environment updates;
    for (const auto& [key, value] : spec.vars) {
      try {
        updates[key] = expand_env_value(value, env, prev);
      } catch (const UserError& e) {
        throw UserError("environment variable `" + key + "`: " + e.what());
      }
    }
    if (spec.extend) {
      for (auto& [k, v] : updates) running[k] = std::move(v);
    } else {
      running = std::move(updates);
    }
  }
  return running;
}

std::vector<std::string> environment_strings(const Environment& environment) {
  std::vector<std::string> out;
  out.reserve(environment.size());
  for (const auto& [k, v] : environment) out.push_back(k + "=" + v);
  return out;
}

Environment parse_environment_strings(const std::vector<std::string>& vars, const std::string& what) {
  Environment out;
  for (const std::string& kv : vars) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos)
      throw UserError(what + " has an invalid environment variable \"" + kv + "\" (no '=')");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

}  // namespace mael
