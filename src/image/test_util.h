#pragma once
// Helpers for this module's tests (header only, not part of the library).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/subprocess.h"
#include "base/test_temp_dir.h"

namespace mael::testing {

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// Runs argv, returns its stdout; throws when it fails.
inline std::string run(const std::vector<std::string>& argv) {
  ProcessResult r = run_process(argv);
  if (!r.ok()) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("command failed: " + cmd + "(" + std::to_string(r.exit_code) + "): " + r.err);
  }
  return r.out;
}

// Writes an executable docker-credential-NAME into `bin_dir` running the
// shell `body` (stdin: the registry address), for credential helper tests.
inline void write_credential_helper(const std::filesystem::path& bin_dir, const std::string& name,
                                    const std::string& body) {
  std::filesystem::create_directories(bin_dir);
  std::filesystem::path p = bin_dir / ("docker-credential-" + name);
  write_text(p, "#!/bin/sh\n" + body + "\n");
  std::filesystem::permissions(p, std::filesystem::perms::owner_all);
}

// Puts a directory first on PATH for the lifetime of the object.
class PathPrefix {
 public:
  explicit PathPrefix(const std::filesystem::path& dir) {
    const char* old = std::getenv("PATH");
    old_ = old ? old : "";
    ::setenv("PATH", (dir.string() + ":" + old_).c_str(), 1);
  }
  ~PathPrefix() { ::setenv("PATH", old_.c_str(), 1); }
  PathPrefix(const PathPrefix&) = delete;
  PathPrefix& operator=(const PathPrefix&) = delete;

 private:
  std::string old_;
};

inline std::filesystem::path helper_script() {
  const char* src = std::getenv("MAEL_SOURCE_DIR");
  std::filesystem::path root = src ? src : std::filesystem::path(__FILE__).parent_path() / ".." / "..";
  return root / "tests" / "images" / "registry.py";
}

// Keeps the user's login files and registry settings out of a test: Docker's and
// podman's auth files are looked for under `home` (docker/, run/containers/).
inline void isolate_registry_settings(const std::filesystem::path& home) {
  ::setenv("DOCKER_CONFIG", (home / "docker").c_str(), 1);
  ::setenv("XDG_RUNTIME_DIR", (home / "run").c_str(), 1);
  ::unsetenv("REGISTRY_AUTH_FILE");
  ::unsetenv("MAELSTROM_CONTAINER_INSECURE_REGISTRIES");
  std::filesystem::create_directories(home / "docker");
  std::filesystem::create_directories(home / "run" / "containers");
}

// Writes a test image as an OCI layout at `out` (registry.py build; `extra`: --kind K, --no-zstd).
inline void build_test_image(const std::filesystem::path& out, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"python3", helper_script().string(), "build", "--out", out.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  run(argv);
}

// Pushes the layout's `latest` to `to` (HOST:PORT/REPO:TAG), logging in with `creds` (USER:PASS) if given.
inline void push_test_image(const std::filesystem::path& layout, const std::string& to,
                            const std::string& creds = "") {
  std::vector<std::string> argv = {"python3", helper_script().string(), "push", "--layout",
                                   layout.string() + ":latest", "--to", to};
  if (!creds.empty()) argv.insert(argv.end(), {"--creds", creds});
  run(argv);
}

// `tests/images/registry.py ARGS...` as a child that prints "READY ADDRESS PID"
// and runs until we close its stdin (or this process dies): the registry
// (`serve ...`) or the fault-injecting proxy (`proxy ...`).
class HelperProcess {
 public:
  explicit HelperProcess(const std::vector<std::string>& helper_args)
      : child_(argv(helper_args), ChildOptions{.stderr_to = STDERR_FILENO, .stdin_pipe = true}) {
    std::string line;
    char c;
    while (::read(child_.stdout_fd(), &c, 1) == 1 && c != '\n') line += c;
    if (!line.starts_with("READY ")) {
      stop();
      throw std::runtime_error("registry.py " + helper_args[0] + " did not start: " + line);
    }
    std::istringstream ss(line.substr(6));
    ss >> address_ >> child_pid_;
  }
  ~HelperProcess() { stop(); }
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  // Closes its stdin (it stops then) and waits for it.
  void stop() {
    child_.close_stdin();
    child_.wait();
  }
  const std::string& address() const { return address_; }

 protected:
  pid_t child_pid_ = -1;

 private:
  static std::vector<std::string> argv(const std::vector<std::string>& helper_args) {
    std::vector<std::string> a = {"python3", helper_script().string()};
    a.insert(a.end(), helper_args.begin(), helper_args.end());
    return a;
  }
  ChildProcess child_;
  std::string address_;
};

// A docker-registry on loopback (see registry.py serve). `extra`: --tls,
// --token, --refresh-token T, --host IP.
class TestRegistry : public HelperProcess {
 public:
  explicit TestRegistry(const std::filesystem::path& dir, const std::string& user = "",
                        const std::string& password = "", const std::vector<std::string>& extra = {})
      : HelperProcess(args(dir, user, password, extra)) {}
  pid_t registry_pid() const { return child_pid_; }

 private:
  static std::vector<std::string> args(const std::filesystem::path& dir, const std::string& user,
                                       const std::string& password, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"serve", "--dir", dir.string()};
    if (!user.empty()) a.insert(a.end(), {"--user", user, "--password", password});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

// A fault-injecting proxy in front of `upstream` (see fault_proxy.py); each
// blob GET is logged as a JSON line to `log`.
class FaultProxy : public HelperProcess {
 public:
  FaultProxy(const std::string& upstream, const std::string& fault, const std::filesystem::path& log)
      : HelperProcess({"proxy", "--upstream", upstream, "--fault", fault, "--log", log.string()}) {}
};

}  // namespace mael::testing
