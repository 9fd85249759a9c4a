#include "client_api/service.h"

#include <atomic>
#include <exception>

#include "base/error.h"
#include "client_api/convert.h"

namespace mael::client_api {

namespace {

// Threads for the calls that may block: making the client (connecting to a broker) and
// resolving jobs (building layers, pulling images). Jobs themselves run elsewhere.
constexpr size_t kPreparingThreads = 8;

grpc::Status invalid(const std::string& what) {
  return {grpc::StatusCode::INVALID_ARGUMENT, what};
}

// A status for an exception escaping one of our calls: a UserError is the request's fault.
grpc::Status status_of(const char* call, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const UserError& u) {
    return invalid(std::string(call) + ": " + u.what());
  } catch (const std::exception& x) {
    return {grpc::StatusCode::INTERNAL, std::string(call) + ": internal error: " + x.what()};
  }
}

pb::LogLevel level_to(log::Level l) {
  switch (l) {
    case log::Level::Trace: return pb::LOG_LEVEL_TRACE;
    case log::Level::Debug: return pb::LOG_LEVEL_DEBUG;
    case log::Level::Info: return pb::LOG_LEVEL_INFO;
    case log::Level::Warn: return pb::LOG_LEVEL_WARNING;
    case log::Level::Error: return pb::LOG_LEVEL_ERROR;
  }
  return pb::LOG_LEVEL_ERROR;
}

std::filesystem::path path_of(const std::string& bytes) {
  return std::filesystem::path(bytes);
}

}  // namespace

ClientProcessService::ClientProcessService(ClientOptions defaults, std::function<void()> on_stop)
    : defaults_(std::move(defaults)), on_stop_(std::move(on_stop)), pool_(kPreparingThreads) {
  log::set_tap([this](log::Level level, std::string_view message) { log_record(level, message); });
}

ClientProcessService::~ClientProcessService() {
  shut_down();
}

void ClientProcessService::shut_down() {
  {
    std::lock_guard lk(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  pool_.wait();  // a job being prepared is submitted (and cancelled below); the queued ones give up
  std::shared_ptr<Client> client;
  {
    std::lock_guard lk(mu_);
    client = std::move(client_);
  }
  if (client) {
    // Every stream gets its job's end (a system error saying it was cancelled), then closes.
    client->cancel_all();
    client->wait_idle();
  }
  client.reset();  // its containers, executor and broker connection go now
  log::set_tap(nullptr);
  std::set<std::shared_ptr<LogOutbox>> logs;
  {
    std::lock_guard lk(logs_mu_);
    logs.swap(log_streams_);
  }
  for (const auto& l : logs) l->finish(grpc::Status::OK);
}

std::shared_ptr<Client> ClientProcessService::client_or(const char* call, grpc::Status* why) {
  std::lock_guard lk(mu_);
  if (shut_down_) {
    *why = {grpc::StatusCode::UNAVAILABLE, std::string(call) + ": maelstrom-client is stopping"};
  } else if (!client_) {
    *why = {grpc::StatusCode::FAILED_PRECONDITION,
            std::string(call) + " before Start: call Start first (once per maelstrom-client process)"};
  }
  return client_;
}

void ClientProcessService::log_record(log::Level level, std::string_view message) {
  std::lock_guard lk(logs_mu_);
  if (log_streams_.empty()) return;
  pb::LogMessage m;
  m.set_message_(std::string(message));
  m.set_level(level_to(level));
  for (const auto& l : log_streams_) l->send(m);
}

grpc::ServerWriteReactor<pb::LogMessage>* ClientProcessService::StreamLogMessages(
    grpc::CallbackServerContext*, const pb::Void*) {
  auto out = std::make_shared<LogOutbox>();
  auto* reactor = new LogOutbox::Reactor(out);
  {
    std::lock_guard lk(mu_);
    if (shut_down_) {
      out->finish({grpc::StatusCode::UNAVAILABLE, "StreamLogMessages: maelstrom-client is stopping"});
      return reactor;
    }
  }
  std::weak_ptr<LogOutbox> weak = out;
  out->on_cancel([this, weak] {
    std::lock_guard lk(logs_mu_);
    if (auto o = weak.lock()) log_streams_.erase(o);
  });
  std::lock_guard lk(logs_mu_);
  log_streams_.insert(out);
  return reactor;
}

grpc::ServerUnaryReactor* ClientProcessService::Start(grpc::CallbackServerContext* ctx,
                                                      const pb::StartRequest* request, pb::Void*) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  {
    std::lock_guard lk(mu_);
    if (shut_down_) {
      r->Finish({grpc::StatusCode::UNAVAILABLE, "Start: maelstrom-client is stopping"});
      return r;
    }
    if (client_ || starting_) {
      r->Finish({grpc::StatusCode::FAILED_PRECONDITION,
                 "Start: the client is already started; call Start once per maelstrom-client process"});
      return r;
    }
    starting_ = true;
  }
  pool_.post([this, r, request = *request] {
    grpc::Status st;
    try {
      start(request);
    } catch (...) {
      st = status_of("Start", std::current_exception());
      std::lock_guard lk(mu_);
      starting_ = false;  // a failed Start may be tried again
    }
    r->Finish(st);
  });
  return r;
}

void ClientProcessService::start(const pb::StartRequest& req) {
  ClientOptions o = defaults_;
  o.project_dir = req.project_dir().empty() ? std::filesystem::current_path() : path_of(req.project_dir());
  if (!req.cache_dir().empty()) o.cache_root = path_of(req.cache_dir());
  if (o.cache_root.empty()) throw UserError("cache_dir is empty; name the cache directory");
  if (req.cache_size() > 0) o.cache_size = req.cache_size();
  if (req.inline_limit() > 0) o.inline_limit = req.inline_limit();
  if (req.slots() > 1000) throw UserError("slots is " + std::to_string(req.slots()) + "; give at most 1000");
  if (req.slots() > 0) o.slots = req.slots();
  if (!req.container_image_depot_dir().empty())
    o.container_image_depot_root = path_of(req.container_image_depot_dir());
  o.accept_invalid_remote_container_tls_certs =
      o.accept_invalid_remote_container_tls_certs || req.accept_invalid_remote_container_tls_certs();
  o.image_progress = false;  // no terminal to draw on
  if (req.has_cluster_communication_strategy()) {
    const auto& s = req.cluster_communication_strategy();
    switch (s.strategy_case()) {
      case pb::ClusterCommunicationStrategy::kTcp:
        if (s.tcp().broker().empty())
          throw UserError("cluster_communication_strategy.tcp.broker is empty; give the broker's HOST:PORT");
        o.broker = s.tcp().broker();
        break;
      case pb::ClusterCommunicationStrategy::kGitHub:
        throw UserError(
            "cluster_communication_strategy.git_hub is not supported by this maelstrom-client; use tcp with "
            "the "
            "broker's HOST:PORT");
      case pb::ClusterCommunicationStrategy::STRATEGY_NOT_SET:
        throw UserError(
            "cluster_communication_strategy sets neither tcp nor git_hub; give tcp, or leave it unset to run "
            "jobs on this machine");
    }
  }
  auto client = std::make_shared<Client>(o);
  log::info("maelstrom-client started: {}, cache {}",
            o.broker ? "broker " + *o.broker : std::string("standalone"), o.cache_root.string());
  std::lock_guard lk(mu_);
  starting_ = false;
  if (shut_down_) return;  // stopped meanwhile: the client goes with this function
  client_ = std::move(client);
}

grpc::ServerUnaryReactor* ClientProcessService::AddContainer(grpc::CallbackServerContext* ctx,
                                                             const pb::AddContainerRequest* request,
                                                             pb::Void*) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  grpc::Status st;
  try {
    if (request->name().empty()) throw UserError("name is empty; name the container");
    ContainerSpec spec = container_from_proto(request->container(), "container");
    if (auto client = client_or("AddContainer", &st)) client->add_container(request->name(), std::move(spec));
  } catch (...) {
    st = status_of("AddContainer", std::current_exception());
  }
  r->Finish(st);
  return r;
}

grpc::ServerWriteReactor<pb::JobStatus>* ClientProcessService::RunJob(grpc::CallbackServerContext*,
                                                                      const pb::RunJobRequest* request) {
  auto out = std::make_shared<JobOutbox>();
  auto* reactor = new JobOutbox::Reactor(out);
  JobSpec spec;
  try {
    spec = job_from_proto(request->spec());
  } catch (...) {
    out->finish(status_of("RunJob", std::current_exception()));
    return reactor;
  }
  grpc::Status why;
  uint32_t id;
  {
    if (!client_or("RunJob", &why)) {
      out->finish(why);
      return reactor;
    }
    std::lock_guard lk(mu_);
    id = next_job_id_++;
  }
  pool_.post([this, out, spec = std::move(spec), id] { run(out, spec, id); });
  return reactor;
}

void ClientProcessService::run(const std::shared_ptr<JobOutbox>& out, const JobSpec& spec,
                               uint32_t client_job_id) {
  grpc::Status why;
  std::shared_ptr<Client> client = client_or("RunJob", &why);
  if (!client) return out->finish(why);
  if (out->cancelled()) return;  // the caller is gone: nothing to run
  // The job's id once submitted, for a cancellation that comes first or meanwhile.
  struct Job {
    std::mutex mu;
    std::optional<JobId> id;
    bool cancel = false;
  };
  auto job = std::make_shared<Job>();
  std::weak_ptr<Client> weak = client;
  out->on_cancel([job, weak] {
    std::optional<JobId> id;
    {
      std::lock_guard lk(job->mu);
      job->cancel = true;
      id = job->id;
    }
    if (auto c = weak.lock(); c && id) c->cancel(*id);
  });
  bool remote = client->remote();
  auto worker = std::make_shared<std::atomic<uint32_t>>(0);  // the broker's number of its worker
  try {
    JobId id = client->run_job(
        spec,
        [out, remote, worker](JobState s) {
          if (s != JobState::Completed) out->send(running_status(s, remote, worker->load()));
        },
        [out, client_job_id](JobOutcome o) {
          out->send(completed_status(client_job_id, o));
          out->finish(grpc::Status::OK);
        },
        [worker](const std::string& w) { worker->store(worker_id_of(w)); });
    bool cancel;
    {
      std::lock_guard lk(job->mu);
      job->id = id;
      cancel = job->cancel;
    }
    if (cancel) client->cancel(id);
  } catch (...) {
    grpc::Status st = status_of("RunJob", std::current_exception());
    log::debug("job {}: {}", client_job_id, st.error_message());
    out->finish(st);
  }
}

grpc::ServerUnaryReactor* ClientProcessService::Introspect(grpc::CallbackServerContext* ctx, const pb::Void*,
                                                           pb::IntrospectResponse* response) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  grpc::Status st;
  if (auto client = client_or("Introspect", &st)) {
    for (const std::string& name : client->images_downloading())
      response->add_image_downloads()->set_name(name);
    for (const Client::Upload& u : client->uploads_in_progress()) {
      auto* p = response->add_artifact_uploads();
      p->set_name(u.name);
      p->set_size(u.size);
      p->set_progress(u.sent);
    }
  }
  r->Finish(st);
  return r;
}

grpc::ServerUnaryReactor* ClientProcessService::Stop(grpc::CallbackServerContext* ctx, const pb::Void*,
                                                     pb::Void*) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  std::call_once(stop_once_, [this] {
    if (on_stop_) on_stop_();
  });
  return r;
}

}  // namespace mael::client_api
