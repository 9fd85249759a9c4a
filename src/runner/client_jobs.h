#pragma once
// Glue between the run loop and a real Client. Header-only so that mael_runner does not depend
// on mael_client; runner programs link both.
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "client/client.h"
#include "runner/run_loop.h"

namespace mael {

inline JobSubmitter client_submitter(Client& client) {
  return [&client](const JobSpec& spec, std::function<void(JobState)> on_state,
                   std::function<void(JobOutcome)> on_done) {
    return client.run_job(spec, std::move(on_state), std::move(on_done));
  };
}

// Makes the Client on its own thread, so that opening the cache and preparing containers
// overlaps with the build; whoever needs it waits. The client is published in `current` (for
// the signal handler) while it exists.
class BackgroundClient {
 public:
  // `setup` runs on the new client before anyone gets it (named containers, ...).
  BackgroundClient(ClientOptions options, std::atomic<Client*>& current,
                   std::function<void(Client&)> setup = nullptr)
      : current_(current), thread_([this, o = std::move(options), setup = std::move(setup)]() mutable {
          std::unique_ptr<Client> c;
          std::exception_ptr e;
          try {
            c = std::make_unique<Client>(std::move(o));
            if (setup) setup(*c);
          } catch (...) {
            e = std::current_exception();
          }
          std::lock_guard lk(mu_);
          client_ = std::move(c);
          error_ = e;
          done_ = true;
          if (client_) current_.store(client_.get());
          cv_.notify_all();
        }) {}
  ~BackgroundClient() {
    thread_.join();
    current_.store(nullptr);  // before the client goes, so the signal thread never sees a dead one
  }
  BackgroundClient(const BackgroundClient&) = delete;
  BackgroundClient& operator=(const BackgroundClient&) = delete;

  // Waits for the client; rethrows what its constructor threw.
  Client& get() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
    return *client_;
  }
  // The client if it is ready, else nullptr (never waits).
  Client* ready() {
    std::lock_guard lk(mu_);
    return client_.get();
  }
  JobSubmitter submitter() {
    return [this](const JobSpec& spec, std::function<void(JobState)> on_state,
                  std::function<void(JobOutcome)> on_done) {
      return get().run_job(spec, std::move(on_state), std::move(on_done));
    };
  }

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
