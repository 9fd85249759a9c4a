#include "cluster/security.h"

#include <grpc/support/log.h>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/format.h"
#include "base/log.h"
#include "cluster/protocol.h"

namespace mael::cluster {

std::string read_pem(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in)
    throw UserError(mael::format("cannot read {} file '{}': check the path and permissions", what, path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos)
    throw UserError(mael::format("{} file '{}' is not PEM: give a PEM file", what, path));
  return ss.str();
}

namespace {

constexpr const char* kAuthHeader = "x-maelstrom-token";

}  // namespace

std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(mael::format("cannot read token file '{}': check the path and permissions", path));
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty())
    throw UserError(mael::format("token file '{}' is empty: put the shared token on its first line", path));
  return line;
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsOptions& tls) {
  if (tls.cert_file.empty() && tls.key_file.empty()) {
    if (!tls.ca_file.empty()) throw UserError("--tls-ca on the broker needs --tls-cert and --tls-key too");
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty() || tls.key_file.empty())
    throw UserError("TLS on the broker needs both --tls-cert and --tls-key");
  grpc::SslServerCredentialsOptions opts(
      tls.ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                          // A certificate, when sent, must verify; a missing one is refused
                          // by the broker (roles.h identify), so that the refusal is logged with the peer.
                          : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!tls.ca_file.empty()) opts.pem_root_certs = read_pem(tls.ca_file, "CA certificate");
  opts.pem_key_cert_pairs.push_back(
      {read_pem(tls.key_file, "TLS key"), read_pem(tls.cert_file, "TLS certificate")});
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsOptions& tls) {
  if (!tls.tls()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions opts;
  if (!tls.ca_file.empty()) opts.pem_root_certs = read_pem(tls.ca_file, "CA certificate");
  if (!tls.cert_file.empty() || !tls.key_file.empty()) {
    if (tls.cert_file.empty() || tls.key_file.empty())
      throw UserError("a client certificate needs both --tls-cert and --tls-key");
    opts.pem_cert_chain = read_pem(tls.cert_file, "TLS certificate");
    opts.pem_private_key = read_pem(tls.key_file, "TLS key");
  }
  return grpc::SslCredentials(opts);
}

void add_auth(grpc::ClientContext& ctx, const TlsOptions& tls) {
  if (!tls.token.empty()) ctx.AddMetadata(kAuthHeader, tls.token);
}

std::string peer_certificate(const grpc::ServerContext& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return "";
  auto pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return pems.empty() ? "" : std::string(pems.front().data(), pems.front().size());
}

std::optional<std::string> peer_token(const grpc::ServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(kAuthHeader);
  if (it == md.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

void log_grpc_as_broker() {
  gpr_set_log_function([](gpr_log_func_args* a) {
    std::string_view m = a->message;
    constexpr std::string_view kHandshake = "Handshake failed with fatal error ";
    if (auto i = m.find(kHandshake); i != std::string_view::npos)
      log::warn("refused a connection: TLS handshake failed ({})", m.substr(i + kHandshake.size()));
    else if (m.find("No address added out of total") != std::string_view::npos)
      log::debug("grpc: {} ({}:{})", m, a->file, a->line);  // the caller says "port in use" in one line
    else if (a->severity == GPR_LOG_SEVERITY_ERROR)
      log::warn("grpc: {} ({}:{})", m, a->file, a->line);
    else
      log::debug("grpc: {} ({}:{})", m, a->file, a->line);
  });
}

grpc::ChannelArguments channel_arguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Reconnect quickly once a broker is back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

}  // namespace mael::cluster
