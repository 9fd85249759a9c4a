#pragma once
// Shells: container first processes with every namespace already created,
// waiting for a job script (see child.h). Creating the namespaces, the network
// namespace above all, is the costly part of starting a container; the pool
// keeps a few shells ready, made by a background thread, so jobs skip it.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "container/child.h"

namespace mael {

// The parent's handle on one shell. Not movable: the shell reads `shared`.
class ShellProcess {
 public:
  // Clones it; throws on failure. staging: an empty host directory that
  // outlives the shell.
  ShellProcess(bool network_namespace, const char* staging);
  ~ShellProcess();  // a shell not started is told to exit and reaped
  ShellProcess(const ShellProcess&) = delete;
  ShellProcess& operator=(const ShellProcess&) = delete;

  // Hands the script over and lets the shell run it. `script` must stay valid
  // until wait_exec() returns.
  void start(const child::Script* script);
  // Blocks until the shell exec'd (returns false) or reported a failure
  // (returns true and fills `report`).
  bool wait_exec(child::Report& report);
  // Releases the shell's stack; call after wait_exec().
  void release_stack();
  // The caller reaped the process through pidfd().
  void reaped() { started_ = false; reaped_ = true; }

  int pidfd() const { return pidfd_; }
  int stdout_fd() const { return out_r_; }
  int stderr_fd() const { return err_r_; }

 private:
  child::Shell shared_;
  int pidfd_ = -1, ctl_w_ = -1, report_r_ = -1, out_r_ = -1, err_r_ = -1;
  void* stack_ = nullptr;
  bool started_ = false;
  bool reaped_ = false;
};

class ShellPool {
 public:
  // per_kind 0: no prepared shells (the thread still disposes of namespaces).
  // staging: see ShellProcess.
  ShellPool(size_t per_kind, std::string staging);
  ~ShellPool();
  ShellPool(const ShellPool&) = delete;
  ShellPool& operator=(const ShellPool&) = delete;

  // A ready shell of that kind, or a new one made now.
  std::unique_ptr<ShellProcess> take(bool network_namespace);
  // Closes fd on the background thread: used for a finished job's mount
  // namespace, whose teardown waits for an RCU grace period.
  void dispose(int fd);

 private:
  void fill_loop();

  size_t per_kind_;
  std::string staging_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Kinds: without, with a network namespace.
  std::deque<std::unique_ptr<ShellProcess>> ready_[2];
  bool wanted_[2] = {};
  bool failed_[2] = {};  // creation failed: stop trying in the background
  std::vector<int> to_close_;
  bool stop_ = false;
  std::thread filler_;
};

}  // namespace mael
