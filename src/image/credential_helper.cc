#include "image/credential_helper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/error.h"

extern char** environ;

namespace mael {
namespace {

using nlohmann::json;

// Enough for any real answer; a runaway helper is cut off here.
constexpr size_t kMaxOutput = 1 << 20;

struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// The first non-empty line of `text`, shortened: error messages stay one line.
std::string first_line(const std::string& text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  std::string line = text.substr(start, text.find_first_of("\r\n", start) - start);
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

struct Outcome {
  int status = 0;  // as from waitpid
  std::string out, err;
  bool timed_out = false;  // killed after the timeout
};

// Spawns `program get`, writes `input` to its stdin and collects its output; kills it when it
// has not closed its output within `timeout`. Returns nullopt when the program is not found.
std::optional<Outcome> spawn_get(const std::string& program, const std::string& input,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  int p[2];
  check_sys(::pipe2(p, O_CLOEXEC), "pipe");
  in_r.fd = p[0], in_w.fd = p[1];
  check_sys(::pipe2(p, O_CLOEXEC), "pipe");
  out_r.fd = p[0], out_w.fd = p[1];
  check_sys(::pipe2(p, O_CLOEXEC), "pipe");
  err_r.fd = p[0], err_w.fd = p[1];

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  // Tools block SIGINT and friends for their signal threads: the helper gets the defaults.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string arg = "get";
  char* argv[] = {const_cast<char*>(program.c_str()), arg.data(), nullptr};
  pid_t pid;
  int rc = ::posix_spawnp(&pid, program.c_str(), &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc == ENOENT) return std::nullopt;
  if (rc != 0) throw_errno("spawn " + program, rc);
  in_r.reset();
  out_w.reset();
  err_w.reset();

  // The address is tiny (fits the pipe buffer), so write it all, then read both outputs.
  std::string line = input + "\n";
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);  // a helper that never reads stdin: EPIPE, not death
  (void)!::write(in_w.fd, line.data(), line.size());
  in_w.reset();
  timespec zero{};
  while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  Outcome o;
  pollfd fds[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
  std::string* sinks[2] = {&o.out, &o.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      o.timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count() + 1, 60'000)));
    if (n < 0 && errno == EINTR) continue;
    check_sys(n, "poll");
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (sinks[i]->size() < kMaxOutput) sinks[i]->append(buf, static_cast<size_t>(r));
    }
  }
  while (::waitpid(pid, &o.status, 0) < 0) {
    if (errno != EINTR) throw_errno("wait for " + program);
  }
  return o;
}

}  // namespace

std::string credential_helper_server_url(const std::string& host) {
  if (host == "registry-1.docker.io" || host == "docker.io" || host == "index.docker.io") {
    return "https://index.docker.io/v1/";
  }
  return host;
}

std::optional<Credentials> run_credential_helper(const std::string& helper, const std::string& host,
                                                 const std::string& origin, std::chrono::milliseconds timeout) {
  std::string program = "docker-credential-" + helper;
  std::string context = "credential helper " + program + " (" + origin + ") for registry " + host;
  if (helper.empty() || helper.find('/') != std::string::npos) {
    throw UserError(context + ": invalid helper name \"" + helper + "\"");
  }
  std::optional<Outcome> o = spawn_get(program, credential_helper_server_url(host), timeout);
  if (!o) throw UserError(context + ": " + program + " not found on PATH; install it or remove it from " + origin);
  if (o->timed_out) {
    char secs[32];
    std::snprintf(secs, sizeof secs, timeout.count() % 1000 ? "%.2f" : "%.0f", timeout.count() / 1000.0);
    throw UserError(context + ": no answer within " + secs + " s (is it waiting for a password prompt?); run `" + program +
                    " get` by hand to see, or remove it from " + origin);
  }
  if (WIFSIGNALED(o->status)) {
    throw UserError(context + ": killed by signal " + std::to_string(WTERMSIG(o->status)));
  }
  if (WEXITSTATUS(o->status) != 0) {
    // docker-credential-helpers' way of saying "nothing stored for this registry".
    if (o->out.find("credentials not found") != std::string::npos) return std::nullopt;
    std::string why = first_line(o->err);
    if (why.empty()) why = first_line(o->out);
    throw UserError(context + ": exit status " + std::to_string(WEXITSTATUS(o->status)) +
                    (why.empty() ? "" : ": " + why));
  }
  json j = json::parse(o->out, nullptr, false);
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string() ||
      (j.contains("Username") && !j["Username"].is_string())) {
    throw UserError(context + ": answered something other than JSON with \"Username\" and \"Secret\": " +
                    first_line(o->out));
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
