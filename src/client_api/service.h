#pragma once
// The ClientProcess service (proto/items.proto) over one Client: Start makes the client,
// AddContainer and RunJob use it, Stop asks the process to end. Work that may block (making the
// client, resolving a job's layers and images) runs on a few threads of its own, never on
// gRPC's. Every error is a gRPC status whose message names the field or call at fault; nothing
// a peer sends ends the process but Stop.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "base/log.h"
#include "client/client.h"
#include "client_api/stream_outbox.h"
#include "items.grpc.pb.h"
#include "runner/task_pool.h"

namespace mael::client_api {

namespace pb = ::maelstrom_client_base::items;

class ClientProcessService final : public pb::ClientProcess::CallbackService {
 public:
  // `defaults`: the options Start's request does not give (credentials, limits, registries).
  // `on_stop` runs once Stop has been answered.
  ClientProcessService(ClientOptions defaults, std::function<void()> on_stop);
  ~ClientProcessService() override;

  // Ends every job and every stream, then drops the client (nothing it started keeps running).
  // Call before the server shuts down; RPCs arriving later fail with UNAVAILABLE.
  void shut_down();

  grpc::ServerWriteReactor<pb::LogMessage>* StreamLogMessages(grpc::CallbackServerContext* ctx,
                                                              const pb::Void* request) override;
  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* ctx, const pb::StartRequest* request,
                                  pb::Void* response) override;
  grpc::ServerUnaryReactor* AddContainer(grpc::CallbackServerContext* ctx,
                                         const pb::AddContainerRequest* request, pb::Void* response) override;
  grpc::ServerWriteReactor<pb::JobStatus>* RunJob(grpc::CallbackServerContext* ctx,
                                                  const pb::RunJobRequest* request) override;
  grpc::ServerUnaryReactor* Introspect(grpc::CallbackServerContext* ctx, const pb::Void* request,
                                       pb::IntrospectResponse* response) override;
  grpc::ServerUnaryReactor* Stop(grpc::CallbackServerContext* ctx, const pb::Void* request,
                                 pb::Void* response) override;

 private:
  using JobOutbox = StreamOutbox<pb::JobStatus>;
  using LogOutbox = StreamOutbox<pb::LogMessage>;

  // The started client, or null with `why` saying why there is none (`call` came before
  // Start, or the process is stopping).
  std::shared_ptr<Client> client_or(const char* call, grpc::Status* why);
  void start(const pb::StartRequest& request);
  void run(const std::shared_ptr<JobOutbox>& out, const JobSpec& spec, uint32_t client_job_id);
  void log_record(log::Level level, std::string_view message);

  ClientOptions defaults_;
  std::function<void()> on_stop_;
  std::mutex mu_;  // guards the four members below
  std::shared_ptr<Client> client_;
  bool starting_ = false;
  bool shut_down_ = false;
  uint32_t next_job_id_ = 1;
  std::mutex logs_mu_;  // guards log_streams_; nothing is logged while it is held
  std::set<std::shared_ptr<LogOutbox>> log_streams_;
  std::once_flag stop_once_;
  TaskPool pool_;  // last: its tasks use the members above, and its destructor waits for them
};

}  // namespace mael::client_api
