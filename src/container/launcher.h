#pragma once
// Code for short-lived CLONE_VM children that set up shared network
// namespaces (see netns_pool.h) and start shells inside them. Same rules as
// child.h: raw system calls only, everything prepared by the parent.
#include <cstdint>

#include "container/child.h"
#include "container/id_maps.h"

namespace mael::launcher {

// Cloned with CLONE_NEWUSER | CLONE_NEWNS | CLONE_VM: the "holder" user
// namespace's first process. It only waits (arg: an int[2] pipe) until its
// parent has written its maps and opened its namespaces, which the parent
// signals by closing the pipe's write end.
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
  // The shell's maps, ids as the holder sees them: written from the holder
  // once the shell exists.
  const child::IdMaps* maps = nullptr;
  // Out: the shell's pid, or -errno with the step that failed.
  long result = 0;
  const char* step = nullptr;
  // Out, when the shell was cloned: 0, or -errno of the map write that failed.
  long maps_result = 0;
  child::Step maps_step = child::Step::UidMap;
};
int launch_main(void* arg);

}  // namespace mael::launcher
