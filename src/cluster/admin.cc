#include "cluster/admin.h"

#include "base/error.h"
#include "base/format.h"
#include "cluster.grpc.pb.h"
#include "cluster/protocol.h"

namespace mael::cluster {

namespace {

namespace pb = ::mael::cluster::v1;

template <typename Call>
void call(const std::string& broker, const TlsOptions& tls, Call&& c) {
  auto channel = grpc::CreateCustomChannel(broker, channel_credentials(tls), channel_arguments());
  auto stub = pb::Broker::NewStub(channel);
  grpc::ClientContext ctx;
  add_auth(ctx, tls);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status st = c(*stub, ctx);
  if (!st.ok()) throw UserError(mael::format("broker at {}: {}", broker, st.error_message()));
}

}  // namespace

std::string admin_status(const std::string& broker, const TlsOptions& tls, uint32_t protocol_version) {
  pb::StatusReply reply;
  call(broker, tls, [&](pb::Broker::Stub& stub, grpc::ClientContext& ctx) {
    pb::StatusRequest req;
    req.set_protocol_version(protocol_version ? protocol_version : kProtocolVersion);
    return stub.Status(&ctx, req, &reply);
  });
  return reply.json();
}

void admin_stop(const std::string& broker, const TlsOptions& tls, uint32_t protocol_version) {
  call(broker, tls, [&](pb::Broker::Stub& stub, grpc::ClientContext& ctx) {
    pb::StopRequest req;
    req.set_protocol_version(protocol_version ? protocol_version : kProtocolVersion);
    pb::StopReply reply;
    return stub.Stop(&ctx, req, &reply);
  });
}

}  // namespace mael::cluster
