#pragma once
// Test support shared by cluster/cluster_test.cc and client/client_test.cc: a
// worker that runs in the test's own process with a fake container runner, so
// that jobs go through a real broker and worker without containers.
#include <poll.h>

#include <atomic>
#include <exception>
#include <string>
#include <thread>

#include "cluster/worker.h"
#include "container/runtime.h"
#include "container/test_rootfs.h"
#include "store/artifact_store.h"

namespace mael::cluster {

// Runs no container. "block" waits until the job is cancelled (then ends as
// killed by signal 9); anything else prints its program and arguments on
// stdout and exits with the number of layer trees it was given, so a test can
// tell that the layers arrived.
struct FakeRunner {
  std::atomic<int> started{0};
  std::atomic<int> cancelled{0};
  JobOutcome operator()(const ContainerConfig& c, const CancelToken* t) {
    started++;
    if (c.program == "block") {
      pollfd p{t->fd(), POLLIN, 0};
      ::poll(&p, 1, 60000);
      cancelled++;
      return JobOutcome{Signaled{9}, {}};
    }
    std::string out = c.program;
    for (const auto& a : c.arguments) out += " " + a;
    JobOutcome o{Exited{static_cast<int>(c.lower_dirs.size())}, {}};
    o.effects.stdout_.first = out + "\n";
    return o;
  }
};

// A Worker with its own store and a FakeRunner, serving on a thread from
// construction until destruction. `error` holds what run() threw (e.g. a
// refused protocol version); after it, run() has returned.
struct InProcessWorker {
  testing::TempDir dir;
  ArtifactStore store;
  FakeRunner runner;
  Worker worker;
  std::thread thread;
  std::exception_ptr error;

  explicit InProcessWorker(const std::string& broker, size_t slots = 2, TlsOptions tls = {},
                           uint32_t protocol_version = 0, std::string name = "w")
      : store(dir.path() / "artifacts", 1 << 30),
        worker(WorkerOptions{.broker = broker,
                             .name = std::move(name),
                             .slots = slots,
                             .tls = std::move(tls),
                             .protocol_version = protocol_version},
               store, [this](const ContainerConfig& c, const CancelToken* t) { return runner(c, t); }) {
    thread = std::thread([this] {
      try {
        worker.run();
      } catch (...) {
        error = std::current_exception();
      }
    });
  }
  ~InProcessWorker() {
    worker.stop();
    if (thread.joinable()) thread.join();
  }
  // Waits for run() to return on its own (e.g. refused, or told to exit).
  void join() { thread.join(); }
};

}  // namespace mael::cluster
