#include "base/descendants.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>

namespace mael {

namespace {

// pid -> parent pid of every live (not zombie) process.
std::map<pid_t, pid_t> live_parents() {
  std::map<pid_t, pid_t> parents;
  DIR* proc = ::opendir("/proc");
  if (!proc) return parents;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string path = std::string("/proc/") + e->d_name + "/stat";
    FILE* f = std::fopen(path.c_str(), "re");
    if (!f) continue;
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses; the last ')' ends it.
    char* close = std::strrchr(buf, ')');
    char state = 0;
    long ppid = 0;
    if (!close || std::sscanf(close + 1, " %c %ld", &state, &ppid) != 2) continue;
    if (state == 'Z' || state == 'X') continue;
    parents[static_cast<pid_t>(pid)] = static_cast<pid_t>(ppid);
  }
  ::closedir(proc);
  return parents;
}

}  // namespace

std::vector<pid_t> descendant_processes() {
  std::map<pid_t, pid_t> parents = live_parents();
  pid_t self = ::getpid();
  std::vector<pid_t> out;
  for (const auto& [pid, ppid] : parents) {
    // Up the chain of parents (bounded: a chain cannot be longer than the process count).
    pid_t p = ppid;
    for (size_t steps = 0; p > 1 && p != self && steps < parents.size(); ++steps) {
      auto it = parents.find(p);
      if (it == parents.end()) break;
      p = it->second;
    }
    if (p == self && pid != self) out.push_back(pid);
  }
  return out;
}

void end_descendants(int sig, std::chrono::milliseconds grace) {
  // Those found first stay targets when their parent dies first and init adopts them.
  std::set<pid_t> targets;
  auto gather = [&targets] {
    std::map<pid_t, pid_t> live = live_parents();
    for (auto it = targets.begin(); it != targets.end();)
      it = live.count(*it) ? std::next(it) : targets.erase(it);  // gone (or a zombie)
    for (pid_t pid : descendant_processes()) targets.insert(pid);
  };
  gather();
  for (pid_t pid : targets) ::kill(pid, sig);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    gather();
    if (targets.empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Twice: a process may have started a child between the listing and its kill.
  for (int round = 0; round < 2; ++round) {
    gather();
    for (pid_t pid : targets) ::kill(pid, SIGKILL);
  }
}

}  // namespace mael
