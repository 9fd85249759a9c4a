#pragma once
// Transport security for the cluster: TLS (optionally with client
// certificates) and an optional shared token sent with every call.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace mael::cluster {

struct TlsOptions {
  // Broker: its certificate and key turn TLS on; ca_file makes it require and
  // verify client certificates. Peers: ca_file verifies the broker (turns TLS
  // on); cert_file/key_file present a client certificate.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // A shared secret: when the broker has one, every call must carry it.
  std::string token;
  bool tls() const { return !ca_file.empty() || !cert_file.empty(); }
};

// Reads the first line of a token file; throws UserError naming the file.
std::string read_token_file(const std::string& path);

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsOptions& tls);
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsOptions& tls);

// Adds the token (if any) to an outgoing call.
void add_auth(grpc::ClientContext& ctx, const TlsOptions& tls);

// Broker side: OK, or UNAUTHENTICATED with a message, for an incoming call.
grpc::Status check_auth(const grpc::ServerContext& ctx, const TlsOptions& tls);

// Channel arguments every peer uses: keepalive and message size bounds.
grpc::ChannelArguments channel_arguments();

// Broker side: routes gRPC's own log lines into ours. A failed TLS handshake
// (a peer whose certificate the CA did not sign, or one without TLS) becomes
// one warning saying the connection was refused and why; gRPC's other errors
// become warnings, the rest debug lines. Process-wide: main() calls it.
void log_grpc_as_broker();

}  // namespace mael::cluster
