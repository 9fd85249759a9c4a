#pragma once
// The messages of one server-streaming call of gRPC's callback API, sent in order from any
// thread. The outbox outlives the call's reactor: whoever produces messages (a job's callbacks,
// the log) keeps it through a shared_ptr and may go on pushing after the call ended (those
// messages are dropped). One write is in flight at a time; gRPC's own calls are made without
// the outbox's lock held.
#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace mael::client_api {

template <typename Msg>
class StreamOutbox {
 public:
  // Queues a message (dropped once the call is finishing or gone).
  void send(Msg m) {
    std::unique_lock lk(mu_);
    if (finishing_ || !reactor_) return;
    queue_.push_back(std::move(m));
    pump(std::move(lk));
  }
  // Ends the call with `status` once the queued messages are written. Only the first counts.
  void finish(grpc::Status status) {
    std::unique_lock lk(mu_);
    if (finishing_ || final_) return;
    final_ = std::move(status);
    pump(std::move(lk));
  }
  bool cancelled() const {
    std::lock_guard lk(mu_);
    return cancelled_;
  }
  // Runs once if the caller cancels the call (drops the stream, or the connection closes).
  void on_cancel(std::function<void()> f) {
    std::lock_guard lk(mu_);
    on_cancel_ = std::move(f);
  }

  // The reactor of one call, made by the service's handler: it lives until gRPC is done with it.
  class Reactor final : public grpc::ServerWriteReactor<Msg> {
   public:
    explicit Reactor(std::shared_ptr<StreamOutbox> box) : box_(std::move(box)) { box_->attach(this); }
    // Each reaction holds the outbox itself: the reactor may be deleted before it returns.
    void OnWriteDone(bool ok) override { std::shared_ptr<StreamOutbox>(box_)->write_done(ok); }
    void OnCancel() override { std::shared_ptr<StreamOutbox>(box_)->cancel(); }
    void OnDone() override { delete this; }

   private:
    std::shared_ptr<StreamOutbox> box_;
  };

 private:
  void attach(Reactor* r) {
    std::lock_guard lk(mu_);
    reactor_ = r;
  }
  void write_done(bool ok) {
    std::unique_lock lk(mu_);
    writing_ = false;
    if (!ok) cancelled_ = true;  // the stream broke: OnCancel follows
    pump(std::move(lk));
  }
  void cancel() {
    std::function<void()> f;
    {
      std::unique_lock lk(mu_);
      cancelled_ = true;
      f = std::move(on_cancel_);
      on_cancel_ = nullptr;
      pump(std::move(lk));
    }
    if (f) f();
  }
  // Starts the next write, or the finish once nothing is left to write. Releases `lk`.
  void pump(std::unique_lock<std::mutex> lk) {
    if (!reactor_ || writing_ || finishing_) return;
    Reactor* r = reactor_;
    if (!queue_.empty() && !cancelled_) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      if (queue_.empty() && final_) {
        // The last message and the end in one operation (one write to the peer fewer).
        finishing_ = true;
        reactor_ = nullptr;
        grpc::Status st = *final_;
        lk.unlock();
        r->StartWriteAndFinish(&current_, grpc::WriteOptions(), st);
        return;
      }
      writing_ = true;
      lk.unlock();
      r->StartWrite(&current_);
      return;
    }
    if (!final_ && !cancelled_) return;
    finishing_ = true;
    reactor_ = nullptr;  // it may be deleted as soon as Finish is called
    grpc::Status st =
        cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled") : *final_;
    queue_.clear();
    lk.unlock();
    r->Finish(st);
  }

  mutable std::mutex mu_;
  Reactor* reactor_ = nullptr;  // until Finish is called
  std::deque<Msg> queue_;
  Msg current_;  // the message being written
  bool writing_ = false;
  bool finishing_ = false;
  bool cancelled_ = false;
  std::optional<grpc::Status> final_;
  std::function<void()> on_cancel_;
};

}  // namespace mael::client_api
