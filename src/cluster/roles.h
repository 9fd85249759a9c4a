#pragma once
// Who may do what at the broker. Every peer has one or more of three roles,
// each with its own credential:
//   worker  runs jobs: WorkerSession, DownloadBlob
//   client  submits jobs: ClientSession, UploadBlob
//   admin   Status, Stop and the status page
// A certificate names its roles in its subject's organizational units
// (OU=maelstrom-worker, OU=maelstrom-client, OU=maelstrom-admin); a token is
// one of the broker's three token files. With neither certificates nor tokens
// configured, every peer has every role (a trusted network, as Maelstrom).
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mael::cluster {

enum class Role : uint8_t { Worker = 1, Client = 2, Admin = 4 };
using Roles = uint8_t;  // a set of Role bits
inline constexpr Roles kAllRoles = 7;

inline bool has(Roles roles, Role r) {
  return (roles & static_cast<Roles>(r)) != 0;
}
const char* role_name(Role r);  // "worker", "client", "admin"
// The subject OU that gives a certificate the role: "maelstrom-worker", ...
std::string role_unit(Role r);
// "worker and admin", "no role".
std::string roles_text(Roles roles);

// The broker's side of authentication.
struct BrokerAuth {
  // Client certificates (the broker's tls-ca) name the peer's roles.
  bool certificates = false;
  // One secret per role (worker-token-file, client-token-file, admin-token-file): all or none.
  std::string worker_token, client_token, admin_token;
  bool tokens() const { return !worker_token.empty(); }
  bool on() const { return certificates || tokens(); }
};

// Throws UserError when some role tokens are set and others not, or two are equal.
void check_broker_auth(const BrokerAuth& auth);

// An authenticated peer: its roles and how it proved them, for the logs
// ("CN=ci-7", "the worker token", "anyone" when authentication is off).
struct Identity {
  Roles roles = 0;
  std::string name;
};

// Who presents this certificate (PEM, empty when none) and token (nullopt
// when none). UNAUTHENTICATED with a message saying what to give when the
// credentials are missing or wrong; OK otherwise, even with no role (the
// caller refuses the call then, naming the role it needs).
grpc::Status identify(const BrokerAuth& auth, std::string_view cert_pem,
                      std::optional<std::string_view> token, Identity* who);

// PERMISSION_DENIED naming the identity, its roles and the role `what` needs;
// OK when the identity has it.
grpc::Status require_role(const BrokerAuth& auth, const Identity& who, Role need, std::string_view what);

// The roles a PEM certificate names, and its subject's CN ("" when none).
// Throws UserError for a certificate that cannot be read.
Roles certificate_roles(std::string_view pem, std::string* common_name = nullptr);

}  // namespace mael::cluster
