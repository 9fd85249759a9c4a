// Probe for bench/exec_vs_fork.py, not part of the product: preloaded into a Rust test binary,
// its constructor runs before the binary's own initialization and becomes a server that starts
// one test process per request, in one of two ways, so that both are timed from the same parent:
//   "E NAME": fork, and the child execve's the binary as `BIN --exact --nocapture NAME` (what
//             every container runs, here without the container);
//   "F NAME": fork, and the child goes on into the test harness with argv[$PROBE_SLOT] replaced
//             by NAME (the harness reads argv after the constructors, from the same array).
// Requests come one per line on fd $PROBE_IN; the wait status of each test process goes to fd
// $PROBE_OUT, one per line.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((constructor)) static void probe_server(int argc, char** argv, char** envp) {
  (void)envp;
  const char* slot_env = getenv("PROBE_SLOT");
  const char* in_env = getenv("PROBE_IN");
  const char* out_env = getenv("PROBE_OUT");
  if (!slot_env || !in_env || !out_env) return;
  int slot = atoi(slot_env), out = atoi(out_env);
  FILE* in = fdopen(atoi(in_env), "r");
  if (slot <= 0 || slot >= argc || !in) _exit(2);
  // Neither arm's test process (nor anything it starts) should see the probe.
  unsetenv("LD_PRELOAD");
  unsetenv("PROBE_SLOT");
  unsetenv("PROBE_IN");
  unsetenv("PROBE_OUT");
  static char line[4096];
  while (fgets(line, sizeof line, in)) {
    size_t n = strcspn(line, "\n");
    if (line[n] != '\n' || n < 3 || line[1] != ' ') _exit(4);  // too long or malformed
    line[n] = '\0';
    char* name = line + 2;
    pid_t pid = fork();
    if (pid < 0) _exit(3);
    if (pid == 0) {
      fclose(in);
      close(out);
      if (line[0] == 'E') {
        char* args[] = {argv[0], "--exact", "--nocapture", name, NULL};
        execv("/proc/self/exe", args);
        _exit(127);
      }
      argv[slot] = name;
      return;  // on into the harness, as this test's process
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
      if (errno != EINTR) _exit(5);
    dprintf(out, "%d\n", status);
  }
  _exit(0);
}
