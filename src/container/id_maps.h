#pragma once
// The uid and gid maps of a new user namespace, written from outside it: by
// the process that cloned it (in the namespace's parent), so that a runtime
// run as root can map more than its own id. Raw system calls only: the
// launcher (a CLONE_VM child) uses it too.
#include <fcntl.h>

#include <cstdint>

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

// "ID OUTSIDE 1\n", a map of one id, into buf (40 bytes are enough).
MAEL_CHILD_FN void map_line(char* buf, uint32_t inside, uint32_t outside) {
  char* p = raw::put_decimal(buf, inside);
  *p++ = ' ';
  p = raw::put_text(raw::put_decimal(p, outside), " 1\n");
  *p = 0;
}

// Writes the maps of a user namespace's process whose proc directory is
// `proc_dir` ("/proc/123/", or "123/" or "self/" under `dir`); 0, or -errno
// with *step the write that failed.
MAEL_CHILD_FN long write_id_maps(long dir, const char* proc_dir, const IdMaps& maps, Step* step) {
  char path[64];
  char* leaf = raw::put_text(path, proc_dir);
  long rc;
  *step = Step::UidMap;
  raw::put_text(leaf, "uid_map")[0] = 0;
  if ((rc = raw::write_text_at(dir, path, maps.uid_map)) < 0) return rc;
  if (maps.deny_setgroups) {
    *step = Step::Setgroups;
    raw::put_text(leaf, "setgroups")[0] = 0;
    if ((rc = raw::write_text_at(dir, path, "deny")) < 0) return rc;
  }
  *step = Step::GidMap;
  raw::put_text(leaf, "gid_map")[0] = 0;
  return raw::write_text_at(dir, path, maps.gid_map);
}

// The same for process pid, from the host's /proc.
MAEL_CHILD_FN long write_id_maps(long pid, const IdMaps& maps, Step* step) {
  char proc_dir[32];
  char* p = raw::put_decimal(raw::put_text(proc_dir, "/proc/"), static_cast<unsigned long>(pid));
  p[0] = '/';
  p[1] = 0;
  return write_id_maps(AT_FDCWD, proc_dir, maps, step);
}

}  // namespace mael::child
