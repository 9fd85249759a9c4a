#include "cluster/broker_connection.h"

#include <fcntl.h>
#include <grpc/support/log.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "cluster.grpc.pb.h"
#include "cluster/convert.h"
#include "cluster/protocol.h"

namespace mael::cluster {

namespace {

JobOutcome system_error(std::string message) {
  return JobOutcome{JobError{JobErrorKind::System, std::move(message)}, {}};
}

// What the user can do about a failed handshake ("" when the broker's message says it).
std::string connect_hint(const grpc::Status& st, const TlsOptions& tls) {
  if (st.error_message().find("--") != std::string::npos) return "";
  if (st.error_code() == grpc::StatusCode::PERMISSION_DENIED) return "";  // names the credential to give
  if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED)
    return "give the broker's credentials with --tls-ca, --tls-cert, --tls-key and --token-file";
  if (tls.tls())
    return "check --broker, that the broker runs there with TLS, and that --tls-ca, --tls-cert and --tls-key "
           "match its setup";
  return "check --broker and that maelstrom-broker runs there (with TLS, pass --tls-ca)";
}

}  // namespace

void quiet_grpc_logging() {
  gpr_set_log_function(
      [](gpr_log_func_args* a) { log::debug("grpc: {} ({}:{})", a->message, a->file, a->line); });
}

struct BrokerConnection::Impl {
  std::string broker;
  TlsOptions tls;
  BlobProvider blobs;
  BrokerConnectionOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Broker::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::ClientToBroker, pb::BrokerToClient>> stream;
  uint64_t client_id = 0;

  std::mutex write_mu;
  mutable std::mutex mu;  // guards everything below
  std::condition_variable cv;
  struct Job {
    StateCallback on_state;
    DoneCallback on_done;
  };
  std::map<uint64_t, Job> jobs;
  size_t delivering = 0;  // on_done callbacks running: wait_idle waits for them too
  uint64_t next_job = 1;
  std::optional<std::string> error;
  bool closing = false;
  struct Upload {
    Digest digest;
    std::string ticket;  // from the broker's request: binds the upload to this session
  };
  std::deque<Upload> uploads;
  // The broker's last word on its workers (ClusterState), and whether the user has
  // been told that jobs wait for a worker that is not there.
  std::optional<pb::ClusterState> cluster;
  bool told_no_workers = false;
  std::map<grpc::ClientContext*, UploadProgress> upload_ctxs;  // the uploads under way
  std::vector<std::thread> uploaders;
  std::thread reader;

  bool write(const pb::ClientToBroker& m) {
    std::lock_guard lk(write_mu);
    return stream->Write(m);
  }

  void read_loop() {
    pb::BrokerToClient msg;
    std::optional<std::string> stopped;  // the broker said it is stopping, and why
    while (!stopped && stream->Read(&msg)) {
      switch (msg.msg_case()) {
        case pb::BrokerToClient::kShutdown: stopped = msg.shutdown().reason(); break;
        case pb::BrokerToClient::kStatus: {
          StateCallback cb;
          {
            std::lock_guard lk(mu);
            auto it = jobs.find(msg.status().job_id());
            if (it != jobs.end()) cb = it->second.on_state;
          }
          if (cb) cb(from_proto(msg.status().state()), msg.status().worker());
          break;
        }
        case pb::BrokerToClient::kDone: {
          DoneCallback cb;
          {
            std::lock_guard lk(mu);
            auto it = jobs.find(msg.done().job_id());
            if (it == jobs.end()) break;
            cb = std::move(it->second.on_done);
            jobs.erase(it);
            delivering++;
          }
          if (cb) cb(from_proto(msg.done().outcome()));
          {
            std::lock_guard lk(mu);
            delivering--;
          }
          cv.notify_all();
          break;
        }
        case pb::BrokerToClient::kCluster: {
          std::lock_guard lk(mu);
          cluster = msg.cluster();
          if (cluster->workers() > 0) {
            if (told_no_workers) log::info("broker at {} has a worker again", broker);
            told_no_workers = false;
          } else if (!jobs.empty()) {
            tell_no_workers();
          }
          break;
        }
        case pb::BrokerToClient::kArtifactRequest:
          try {
            Digest d = digest_from_bytes(msg.artifact_request().digest());
            std::lock_guard lk(mu);
            uploads.push_back(Upload{d, msg.artifact_request().ticket()});
            cv.notify_all();
          } catch (const UserError& e) {
            log::warn("broker at {} sent a bad artifact request: {}", broker, e.what());
          }
          break;
        default: break;
      }
    }
    if (stopped) ctx.TryCancel();  // hang up rather than wait for the broker to
    grpc::Status st = stream->Finish();
    std::map<uint64_t, Job> lost;
    std::string why;
    bool unexpected;
    {
      std::lock_guard lk(mu);
      unexpected = !closing;
      if (closing)
        why = "connection to the broker closed";
      else if (stopped)
        why = mael::format("broker at {} stopped{}; unfinished jobs did not complete", broker,
                           stopped->empty() ? "" : " (" + *stopped + ")");
      else
        why = mael::format(
            "lost connection to broker at {}: it went away ({}); unfinished jobs did not complete", broker,
            st.ok() ? "it closed the connection" : st.error_message());
      error = why;
      lost.swap(jobs);
      delivering++;
      for (auto& [c, progress] : upload_ctxs) c->TryCancel();
    }
    cv.notify_all();
    // The one line that says why every unfinished job fails (their outcomes carry it too).
    if (unexpected) log::error("{}", why);
    for (auto& [id, job] : lost)
      if (job.on_done) job.on_done(system_error(why));
    {
      std::lock_guard lk(mu);
      delivering--;
    }
    cv.notify_all();
  }

  // Says once, while jobs are outstanding, that the broker has no worker to run them. With mu.
  void tell_no_workers() {
    if (told_no_workers) return;
    told_no_workers = true;
    uint64_t timeout_s = cluster ? cluster->no_worker_timeout_ms() / 1000 : 0;
    log::warn("broker at {} has no workers: jobs wait until one connects{}", broker,
              timeout_s ? mael::format(" (the broker fails them after {} s without one)", timeout_s) : "");
  }

  void upload_loop() {
    for (;;) {
      Upload u;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return error || !uploads.empty(); });
        if (error) return;
        u = uploads.front();
        uploads.pop_front();
      }
      const Digest& d = u.digest;
      std::string failure;
      int attempts = 0;
      for (;;) {
        grpc::Status st = upload(u, failure);
        if (!failure.empty()) break;
        // Busy (too many uploads, or this client's share of the cache is full until some of its
        // jobs end): wait and retry, for as long as it takes. The broker says when it never will.
        if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          attempts++;
          std::unique_lock lk(mu);
          if (cv.wait_for(lk, std::chrono::milliseconds(50 * std::min(attempts, 20)),
                          [&] { return !!error; }))
            return;
          continue;
        }
        // ABORTED: no job needs it any more (cancelled meanwhile), nothing went wrong.
        if (st.error_code() == grpc::StatusCode::ABORTED) {
          log::debug("broker at {} no longer wants sha256:{}: {}", broker, d.hex(), st.error_message());
        } else if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
          report_upload_failure(d, st);
        }
        break;
      }
      if (!failure.empty()) {
        log::error("cannot upload layer sha256:{}: {}", d.hex(), failure);
        pb::ClientToBroker m;
        m.mutable_artifact_unavailable()->set_digest(digest_bytes(d));
        m.mutable_artifact_unavailable()->set_message(failure);
        write(m);
      }
    }
  }

  // A broker that stops or goes away fails the uploads in flight too, often before the job
  // stream has ended; the stream's end then says why in one line (see read_loop), so such a
  // failure is an error of its own only if the stream outlives it for a moment. Other failures
  // (refused by the broker) are reported at once.
  void report_upload_failure(const Digest& d, const grpc::Status& st) {
    constexpr auto kGrace = std::chrono::seconds(2);
    bool gone = false;
    auto code = st.error_code();
    if (code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::INTERNAL ||
        code == grpc::StatusCode::UNKNOWN) {
      std::unique_lock lk(mu);
      // Our own close says nothing in read_loop: then the failure is still ours to report.
      gone = cv.wait_for(lk, kGrace, [&] { return !!error; }) && !closing;
    }
    log::at(gone ? log::Level::Debug : log::Level::Error,
            "uploading layer sha256:{} to broker at {} failed: {}", d.hex(), broker, st.error_message());
  }

  // Streams one blob; sets `failure` when this side cannot provide it.
  grpc::Status upload(const Upload& u, std::string& failure) {
    const Digest& d = u.digest;
    std::optional<std::filesystem::path> path;
    try {
      path = blobs ? blobs(d) : std::nullopt;
    } catch (const std::exception& e) {
      failure = e.what();
      return grpc::Status::OK;
    }
    if (!path) {
      failure = "the client does not have it";
      return grpc::Status::OK;
    }
    UniqueFd file(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
    const int fd = file.get();
    struct stat sb;
    if (fd < 0 || ::fstat(fd, &sb) < 0) {
      failure = mael::format("cannot read {}: {}", path->string(), std::strerror(errno));
      return grpc::Status::OK;
    }
    grpc::ClientContext uctx;
    add_auth(uctx, tls);
    {
      std::lock_guard lk(mu);
      if (error) return grpc::Status(grpc::StatusCode::CANCELLED, "connection ended");
      upload_ctxs[&uctx] = UploadProgress{d, static_cast<uint64_t>(sb.st_size), 0};
    }
    pb::UploadResult result;
    auto writer = stub->UploadBlob(&uctx, &result);
    pb::BlobChunk chunk;
    chunk.set_protocol_version(options.protocol_version ? options.protocol_version : kProtocolVersion);
    chunk.set_client_id(client_id);
    chunk.set_ticket(u.ticket);
    chunk.set_digest(digest_bytes(d));
    chunk.set_size(sb.st_size);
    std::string buf(kChunkSize, '\0');
    uint64_t sent = 0;
    bool first = true;
    while (sent < static_cast<uint64_t>(sb.st_size) || first) {
      ssize_t n = ::read(fd, buf.data(), std::min<uint64_t>(buf.size(), sb.st_size - sent));
      if (n < 0) {
        failure = mael::format("cannot read {}: {}", path->string(), std::strerror(errno));
        uctx.TryCancel();
        break;
      }
      if (n == 0 && !first) break;  // the file shrank: the broker's size check rejects it
      chunk.set_data(buf.data(), n);
      if (!writer->Write(chunk)) break;
      sent += n;
      {
        std::lock_guard lk(mu);
        upload_ctxs[&uctx].sent = sent;
      }
      first = false;
      chunk.clear_digest();
      chunk.clear_size();
      chunk.clear_client_id();
      chunk.clear_ticket();
      chunk.clear_protocol_version();
      if (n == 0) break;
    }
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    {
      std::lock_guard lk(mu);
      upload_ctxs.erase(&uctx);
    }
    return st;
  }
};

BrokerConnection::BrokerConnection(std::string host_port, TlsOptions tls, BlobProvider blobs,
                                   BrokerConnectionOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& c = *impl_;
  c.broker = std::move(host_port);
  c.tls = std::move(tls);
  c.blobs = std::move(blobs);
  c.options = std::move(options);
  c.channel = grpc::CreateCustomChannel(c.broker, channel_credentials(c.tls), channel_arguments());
  c.stub = pb::Broker::NewStub(c.channel);
  add_auth(c.ctx, c.tls);
  c.stream = c.stub->ClientSession(&c.ctx);

  // The handshake must not hang on a black-holed address: cancel it after the timeout.
  std::mutex hs_mu;
  std::condition_variable hs_cv;
  bool hs_done = false, timed_out = false;
  std::thread watchdog([&] {
    std::unique_lock lk(hs_mu);
    if (!hs_cv.wait_for(lk, c.options.connect_timeout, [&] { return hs_done; })) {
      timed_out = true;
      c.ctx.TryCancel();
    }
  });
  const uint32_t version = c.options.protocol_version ? c.options.protocol_version : kProtocolVersion;
  pb::ClientToBroker hello;
  hello.mutable_hello()->set_protocol_version(version);
  hello.mutable_hello()->set_name(c.options.name);
  c.stream->Write(hello);
  pb::BrokerToClient msg;
  bool ok = c.stream->Read(&msg) && msg.has_welcome();
  {
    std::lock_guard lk(hs_mu);
    hs_done = true;
  }
  hs_cv.notify_all();
  watchdog.join();
  if (!ok) {
    grpc::Status st = c.stream->Finish();
    if (timed_out)
      throw UserError(
          mael::format("cannot connect to broker at {}: no answer within {} ms; check --broker and the "
                       "network",
                       c.broker, c.options.connect_timeout.count()));
    std::string why = st.error_message();
    std::replace(why.begin(), why.end(), '\n', ' ');
    std::string hint = connect_hint(st, c.tls);
    throw UserError(mael::format("cannot connect to broker at {}: {}{}{}", c.broker, why,
                                 hint.empty() ? "" : "; ", hint));
  }
  if (msg.welcome().protocol_version() != version) {
    c.ctx.TryCancel();
    c.stream->Finish();
    throw UserError(
        mael::format("protocol version mismatch: broker at {} speaks version {}, this client speaks version "
                     "{}; run the same "
                     "Maelstrom release on broker and clients",
                     c.broker, msg.welcome().protocol_version(), version));
  }
  c.client_id = msg.welcome().id();
  // The broker may still refuse (version mismatch on its side): that ends the
  // stream and surfaces through error() and the first job.
  c.reader = std::thread([&c] { c.read_loop(); });
  for (size_t i = 0; i < std::max<size_t>(c.options.upload_threads, 1); ++i)
    c.uploaders.emplace_back([&c] { c.upload_loop(); });
}

BrokerConnection::~BrokerConnection() {
  Impl& c = *impl_;
  {
    std::lock_guard lk(c.mu);
    c.closing = true;
  }
  c.ctx.TryCancel();
  c.reader.join();
  for (auto& t : c.uploaders) t.join();
}

uint64_t BrokerConnection::submit(ResolvedJob job, StateCallback on_state, DoneCallback on_done) {
  Impl& c = *impl_;
  uint64_t id;
  std::optional<std::string> err;
  {
    std::lock_guard lk(c.mu);
    id = c.next_job++;
    err = c.error;
    if (!err) {
      c.jobs[id] = Impl::Job{std::move(on_state), on_done};
      if (c.cluster && c.cluster->workers() == 0) c.tell_no_workers();
    }
  }
  if (err) {
    if (on_done) on_done(system_error(*err));
    return id;
  }
  pb::ClientToBroker m;
  m.mutable_submit()->set_job_id(id);
  to_proto(job, m.mutable_submit()->mutable_job());
  // A failed write means the stream is ending: the reader fails the job.
  c.write(m);
  return id;
}

void BrokerConnection::cancel(uint64_t job_id) {
  pb::ClientToBroker m;
  m.mutable_cancel()->set_job_id(job_id);
  impl_->write(m);
}

void BrokerConnection::wait_idle() {
  std::unique_lock lk(impl_->mu);
  impl_->cv.wait(lk, [&] { return impl_->jobs.empty() && impl_->delivering == 0; });
}

size_t BrokerConnection::outstanding() const {
  std::lock_guard lk(impl_->mu);
  return impl_->jobs.size();
}

std::optional<std::string> BrokerConnection::error() const {
  std::lock_guard lk(impl_->mu);
  return impl_->error;
}

std::vector<BrokerConnection::UploadProgress> BrokerConnection::uploads_in_progress() const {
  std::lock_guard lk(impl_->mu);
  std::vector<UploadProgress> out;
  for (const auto& [ctx, progress] : impl_->upload_ctxs) out.push_back(progress);
  return out;
}

}  // namespace mael::cluster
