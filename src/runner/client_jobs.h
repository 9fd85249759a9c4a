#pragma once
// Glue between the run loop and a real Client (mael_runner depends on mael_client for it).
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "client/client.h"
#include "runner/run_loop.h"
#include "runner/waiting_note.h"

namespace mael {

// Makes the Client on its own thread, so that opening the cache and preparing containers
// overlaps with the build; whoever needs it waits. The client is published in `current` (for
// the signal handler) while it exists.
class BackgroundClient {
 public:
  // `setup` runs on the new client before anyone gets it (named containers, ...).
  BackgroundClient(ClientOptions options, std::atomic<Client*>& current,
                   std::function<void(Client&)> setup = nullptr);
  ~BackgroundClient();
  BackgroundClient(const BackgroundClient&) = delete;
  BackgroundClient& operator=(const BackgroundClient&) = delete;

  // Waits for the client; rethrows what its constructor threw.
  Client& get();
  // The client if it is ready, else nullptr (never waits).
  Client* ready();
  JobSubmitter submitter();
  // What the client can say about jobs that have not started (RunLoopOptions::waiting_facts).
  WaitingFacts waiting_facts();

 private:
  std::atomic<Client*>& current_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::unique_ptr<Client> client_;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once the rest exists
};

}  // namespace mael
