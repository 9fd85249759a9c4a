#pragma once
// Code for short-lived CLONE_VM children that set up shared network
// namespaces (see netns_pool.h) and start shells inside them. Same rules as
// child.h: raw system calls only, everything prepared by the parent.
#include <cstdint>

#include "container/child.h"

namespace mael::launcher {

// Cloned with CLONE_NEWUSER | CLONE_VM | CLONE_FILES | CLONE_VFORK: maps the
// caller's uid and gid onto themselves in the new user namespace ("holder"),
// gives itself a mount namespace owned by it, and opens both.
struct Holder {
  const char* uid_map = nullptr;  // "uid uid 1\n"
  const char* gid_map = nullptr;
  // Out: fds in the shared table, or -1; result: -errno of the step that failed.
  int user_ns = -1, mount_ns = -1;
  long result = 0;
  const char* step = nullptr;
};
int holder_main(void* arg);

// Cloned with CLONE_VM | CLONE_FILES | CLONE_VFORK: joins the holder's user
// namespace and opens a new network namespace owned by it (loopback down).
struct NewNetns {
  int user_ns = -1;
  int net_ns = -1;  // out
  long result = 0;
  const char* step = nullptr;
};
int netns_main(void* arg);

// Cloned with CLONE_VM | CLONE_FILES | CLONE_VFORK: joins the holder's user
// and mount namespaces and a pooled network namespace, makes a sysfs mount
// for it if asked (a job cannot: it has no privilege over that namespace),
// then clones the shell with CLONE_PARENT so that it is the caller's child.
struct Launch {
  int user_ns = -1, mount_ns = -1, net_ns = -1;
  bool sysfs = false;
  child::Shell* shell = nullptr;  // shell->sysfs is set here
  char* shell_stack_top = nullptr;
  int clone_flags = 0;   // the shell's, without CLONE_PARENT
  int* pidfd = nullptr;  // CLONE_PIDFD's out parameter
  // Out: the shell's pid, or -errno with the step that failed.
  long result = 0;
  const char* step = nullptr;
};
int launch_main(void* arg);

}  // namespace mael::launcher
