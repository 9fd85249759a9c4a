// Probe for bench/exec_vs_fork.py, not part of the product: preloaded into a Rust test binary,
// its constructor runs before the binary's own initialization and becomes a fork server. It reads
// test names, one per line, from fd $PROBE_IN; for each it forks, and the child goes on into the
// test harness with argv[$PROBE_SLOT] replaced by the name (the harness reads argv after the
// constructors, from the same array). The server waits for the child and writes its wait status
// to fd $PROBE_OUT. What it measures: the cost of a test process started by fork from one that is
// already loaded, against execve of the binary per test.
#define _GNU_SOURCE
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
  if (slot <= 0 || slot >= argc) _exit(2);
  FILE* in = fdopen(atoi(in_env), "r");
  if (!in) _exit(2);
  static char name[4096];
  while (fgets(name, sizeof name, in)) {
    name[strcspn(name, "\n")] = '\0';
    pid_t pid = fork();
    if (pid < 0) _exit(3);
    if (pid == 0) {
      fclose(in);
      close(out);
      argv[slot] = name;
      return;  // on into the harness, as this test's process
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    dprintf(out, "%d\n", status);
  }
  _exit(0);
}
