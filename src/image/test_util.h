#pragma once
// Helpers for this module's tests (header only, not part of the library).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/test_temp_dir.h"

extern char** environ;

namespace mael::testing {

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// Runs argv, returns its stdout; throws when it fails.
inline std::string run(const std::vector<std::string>& argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error("cannot run " + argv[0]);
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("command failed: " + cmd);
  }
  return text;
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
  explicit HelperProcess(const std::vector<std::string>& helper_args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv = {"python3", helper_script().string()};
    argv.insert(argv.end(), helper_args.begin(), helper_args.end());
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    int rc = posix_spawnp(&pid_, "python3", &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    if (rc != 0) throw std::runtime_error("cannot start registry.py");
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
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

  void stop() {
    if (stdin_ >= 0) {
      ::close(stdin_);
      stdin_ = -1;
    }
    if (pid_ > 0) {
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  const std::string& address() const { return address_; }

 protected:
  pid_t child_pid_ = -1;

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
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
