#pragma once
// The uid and gid maps of a new user namespace, written from outside it: by
// the process that cloned it (in the namespace's parent), so that a runtime
// run as root can map more than its own id. Raw system calls only: the
// launcher (a CLONE_VM child) uses it too.
#include "container/child.h"
#include "container/raw_syscall.h"

namespace mael::child {

struct IdMaps {
  const char* uid_map = nullptr;  // "inside outside count\n" lines, ids as the parent sees them
  const char* gid_map = nullptr;
  // Needed before a gid_map written without CAP_SETGID over the parent (the
  // tools not run as root); it also forbids setgroups(2) inside.
  bool deny_setgroups = false;
};

// "/proc/<pid>/<leaf>" into buf (64 bytes are enough).
MAEL_CHILD_FN void proc_pid_path(char* buf, long pid, const char* leaf) {
  const char* prefix = "/proc/";
  char* p = buf;
  while (*prefix) *p++ = *prefix++;
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  while (n > 0) *p++ = digits[--n];
  *p++ = '/';
  while (*leaf) *p++ = *leaf++;
  *p = 0;
}

// Writes the maps of process pid's user namespace; 0, or -errno with *step
// the write that failed.
MAEL_CHILD_FN long write_id_maps(long pid, const IdMaps& maps, Step* step) {
  char path[64];
  long rc;
  *step = Step::UidMap;
  proc_pid_path(path, pid, "uid_map");
  if ((rc = raw::write_text(path, maps.uid_map)) < 0) return rc;
  if (maps.deny_setgroups) {
    *step = Step::Setgroups;
    proc_pid_path(path, pid, "setgroups");
    if ((rc = raw::write_text(path, "deny")) < 0) return rc;
  }
  *step = Step::GidMap;
  proc_pid_path(path, pid, "gid_map");
  return raw::write_text(path, maps.gid_map);
}

}  // namespace mael::child
