#include "cluster/roles.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "base/error.h"
#include "base/format.h"

namespace mael::cluster {

namespace {

constexpr Role kRoles[] = {Role::Worker, Role::Client, Role::Admin};

bool same_secret(std::string_view a, const std::string& b) {
  return !b.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string utf8(const X509_NAME_ENTRY* e) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, X509_NAME_ENTRY_get_data(e));
  if (n < 0) return "";
  std::string s(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return s;
}

// What gives `need` under this broker's settings, for messages.
std::string credential_for(const BrokerAuth& auth, Role need) {
  std::string cert = mael::format("{} {} certificate (OU={} in its subject)",
                                  need == Role::Admin ? "an" : "a", role_name(need), role_unit(need));
  std::string token =
      mael::format("the {} token (the broker's {}-token-file)", role_name(need), role_name(need));
  if (auth.certificates && auth.tokens()) return cert + " and " + token;
  return auth.certificates ? cert : token;
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::Worker: return "worker";
    case Role::Client: return "client";
    case Role::Admin: return "admin";
  }
  return "?";
}

std::string role_unit(Role r) {
  return std::string("maelstrom-") + role_name(r);
}

std::string roles_text(Roles roles) {
  std::string out;
  for (Role r : kRoles)
    if (has(roles, r)) out += (out.empty() ? "" : " and ") + std::string(role_name(r));
  return out.empty() ? "no role" : out;
}

void check_broker_auth(const BrokerAuth& auth) {
  const std::string* tokens[] = {&auth.worker_token, &auth.client_token, &auth.admin_token};
  size_t set = 0;
  for (const std::string* t : tokens) set += !t->empty();
  if (set != 0 && set != 3)
    throw UserError(
        "give the broker all three of worker-token-file, client-token-file and admin-token-file, or none");
  if (set == 3 && (auth.worker_token == auth.client_token || auth.worker_token == auth.admin_token ||
                   auth.client_token == auth.admin_token))
    throw UserError(
        "worker-token-file, client-token-file and admin-token-file must hold three different tokens: one "
        "credential per role");
}

Roles certificate_roles(std::string_view pem, std::string* common_name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
  if (!cert) throw UserError("the peer's certificate cannot be read");
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  Roles roles = 0;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, i)) >= 0;) {
    std::string unit = utf8(X509_NAME_get_entry(subject, i));
    for (Role r : kRoles)
      if (unit == role_unit(r)) roles |= static_cast<Roles>(r);
  }
  if (common_name) {
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    *common_name = i >= 0 ? utf8(X509_NAME_get_entry(subject, i)) : "";
  }
  return roles;
}

grpc::Status identify(const BrokerAuth& auth, std::string_view cert_pem,
                      std::optional<std::string_view> token, Identity* who) {
  if (!auth.on()) {
    *who = Identity{kAllRoles, "anyone"};
    return grpc::Status::OK;
  }
  Roles roles = kAllRoles;
  std::string name;
  if (auth.certificates) {
    if (cert_pem.empty())
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the broker requires a client certificate: pass --tls-cert and --tls-key");
    std::string cn;
    try {
      roles = certificate_roles(cert_pem, &cn);
    } catch (const UserError& e) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, e.what());
    }
    name = "CN=" + cn;
  }
  if (auth.tokens()) {
    if (!token)
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the broker requires a token: pass --token-file");
    Roles by_token = same_secret(*token, auth.worker_token)   ? static_cast<Roles>(Role::Worker)
                     : same_secret(*token, auth.client_token) ? static_cast<Roles>(Role::Client)
                     : same_secret(*token, auth.admin_token)  ? static_cast<Roles>(Role::Admin)
                                                              : 0;
    if (by_token == 0)
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong token: check --token-file");
    roles &= by_token;
    if (name.empty()) name = mael::format("the {} token", roles_text(by_token));
  }
  *who = Identity{roles, std::move(name)};
  return grpc::Status::OK;
}

grpc::Status require_role(const BrokerAuth& auth, const Identity& who, Role need, std::string_view what) {
  if (has(who.roles, need)) return grpc::Status::OK;
  std::string held = who.roles == 0 ? "has no role" : "has the " + roles_text(who.roles) + " role";
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      mael::format("{} {}, not the {} role needed to {}: give this program {}", who.name,
                                   held, role_name(need), what, credential_for(auth, need)));
}

}  // namespace mael::cluster
