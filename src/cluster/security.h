#pragma once
// Transport security for the cluster: TLS (optionally with client
// certificates) and an optional shared token sent with every call.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

namespace mael::cluster {

struct TlsOptions {
  // Broker: its certificate and key turn TLS on; ca_file makes it require and
  // verify client certificates. Peers: ca_file verifies the broker (turns TLS
  // on); cert_file/key_file present a client certificate.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Peers: the token of this program's role (the broker's side is BrokerAuth).
  std::string token;
  bool tls() const { return !ca_file.empty() || !cert_file.empty(); }
};

// Reads a PEM file (`what` names it in errors: "CA certificate"); throws UserError
// naming the file when it cannot be read or is not PEM.
std::string read_pem(const std::string& path, const char* what);

// Reads the first line of a token file; throws UserError naming the file.
std::string read_token_file(const std::string& path);

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsOptions& tls);
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsOptions& tls);

// Adds the token (if any) to an outgoing call.
void add_auth(grpc::ClientContext& ctx, const TlsOptions& tls);

// Broker side: the PEM certificate an incoming call's peer presented ("" when
// none) and the token it sent (nullopt when none); cluster/roles.h says who that is.
std::string peer_certificate(const grpc::ServerContext& ctx);
std::optional<std::string> peer_token(const grpc::ServerContext& ctx);

// Channel arguments every peer uses: keepalive and message size bounds.
grpc::ChannelArguments channel_arguments();

// Broker side: routes gRPC's own log lines into ours. A failed TLS handshake
// (a peer whose certificate the CA did not sign, or one without TLS) becomes
// one warning saying the connection was refused and why; gRPC's other errors
// become warnings, the rest debug lines. Process-wide: main() calls it.
void log_grpc_as_broker();

}  // namespace mael::cluster
