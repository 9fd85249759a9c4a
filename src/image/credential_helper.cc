#include "image/credential_helper.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/subprocess.h"

namespace mael {
namespace {

using nlohmann::json;

// Enough for any real answer; a runaway helper is cut off here.
constexpr size_t kMaxOutput = 1 << 20;

// The first non-empty line of `text`, shortened: error messages stay one line.
std::string first_line(const std::string& text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  std::string line = text.substr(start, text.find_first_of("\r\n", start) - start);
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

}  // namespace

std::string credential_helper_server_url(const std::string& host) {
  if (host == "registry-1.docker.io" || host == "docker.io" || host == "index.docker.io") {
    return "https://index.docker.io/v1/";
  }
  return host;
}

std::optional<Credentials> run_credential_helper(const std::string& helper, const std::string& host,
                                                 const std::string& origin,
                                                 std::chrono::milliseconds timeout) {
  std::string program = "docker-credential-" + helper;
  std::string context = "credential helper " + program + " (" + origin + ") for registry " + host;
  if (helper.empty() || helper.find('/') != std::string::npos) {
    throw UserError(context + ": invalid helper name \"" + helper + "\"");
  }
  ProcessResult o;
  try {
    o = run_process({program, "get"}, RunOptions{.input = credential_helper_server_url(host) + "\n",
                                                 .timeout = timeout,
                                                 .max_output = kMaxOutput});
  } catch (const ProgramNotFound&) {
    throw UserError(context + ": " + program + " not found on PATH; install it or remove it from " + origin);
  } catch (const UserError& e) {
    throw UserError(context + ": " + e.what());
  }
  if (o.timed_out) {
    char secs[32];
    std::snprintf(secs, sizeof secs, timeout.count() % 1000 ? "%.2f" : "%.0f", timeout.count() / 1000.0);
    throw UserError(context + ": no answer within " + secs +
                    " s (is it waiting for a password prompt?); run `" + program +
                    " get` by hand to see, or remove it from " + origin);
  }
  if (o.signal != 0) throw UserError(context + ": killed by signal " + std::to_string(o.signal));
  if (o.exit_code != 0) {
    // docker-credential-helpers' way of saying "nothing stored for this registry".
    if (o.out.find("credentials not found") != std::string::npos) return std::nullopt;
    std::string why = first_line(o.err);
    if (why.empty()) why = first_line(o.out);
    throw UserError(context + ": exit status " + std::to_string(o.exit_code) +
                    (why.empty() ? "" : ": " + why));
  }
  json j = json::parse(o.out, nullptr, false);
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string() ||
      (j.contains("Username") && !j["Username"].is_string())) {
    throw UserError(context + ": answered something other than JSON with \"Username\" and \"Secret\": " +
                    first_line(o.out));
  }
  Credentials c;
  std::string user = j.value("Username", "");
  std::string secret = j["Secret"].get<std::string>();
  if (user.empty() && secret.empty()) return std::nullopt;
  if (user == "<token>") {
    c.identity_token = secret;
  } else {
    c.username = user;
    c.password = secret;
  }
  return c;
}

}  // namespace mael
