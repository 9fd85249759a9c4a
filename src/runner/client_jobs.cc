#include "runner/client_jobs.h"

namespace mael {

BackgroundClient::BackgroundClient(ClientOptions options, std::atomic<Client*>& current,
                                   std::function<void(Client&)> setup)
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

BackgroundClient::~BackgroundClient() {
  thread_.join();
  current_.store(nullptr);  // before the client goes, so the signal thread never sees a dead one
}

Client& BackgroundClient::get() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return done_; });
  if (error_) std::rethrow_exception(error_);
  return *client_;
}

Client* BackgroundClient::ready() {
  std::lock_guard lk(mu_);
  return client_.get();
}

JobSubmitter BackgroundClient::submitter() {
  return [this](const JobSpec& spec, std::function<void(JobState)> on_state, std::function<void(JobOutcome)> on_done,
                const JobAdmit& admit) {
    return get().run_job_if(spec, admit, std::move(on_state), std::move(on_done));
  };
}

WaitingFacts BackgroundClient::waiting_facts() {
  WaitingFacts f;
  if (Client* c = ready()) {
    f.images_downloading = c->images_downloading();
    f.broker = c->broker_address();
  }
  return f;
}

}  // namespace mael
