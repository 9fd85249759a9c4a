#include "cluster/roles.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace mael::cluster {
namespace {

using ::testing::HasSubstr;

const BrokerAuth kTokens{.worker_token = "w", .client_token = "c", .admin_token = "a"};

TEST(Roles, WithoutAuthenticationEveryoneHasEveryRole) {
  Identity who;
  ASSERT_TRUE(identify(BrokerAuth{}, "", std::nullopt, &who).ok());
  EXPECT_EQ(who.roles, kAllRoles);
  EXPECT_EQ(who.name, "anyone");
}

TEST(Roles, EachTokenGivesItsRoleOnly) {
  for (auto [token, role] : {std::pair{"w", Role::Worker}, {"c", Role::Client}, {"a", Role::Admin}}) {
    Identity who;
    ASSERT_TRUE(identify(kTokens, "", std::string(token), &who).ok());
    EXPECT_EQ(who.roles, static_cast<Roles>(role)) << token;
    EXPECT_EQ(who.name, std::string("the ") + role_name(role) + " token");
  }
}

TEST(Roles, MissingOrWrongTokensAreUnauthenticated) {
  Identity who;
  grpc::Status st = identify(kTokens, "", std::nullopt, &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("requires a token"));
  st = identify(kTokens, "", std::string("cc"), &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("wrong token"));
  st = identify(BrokerAuth{.certificates = true}, "", std::nullopt, &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("requires a client certificate"));
}

TEST(Roles, AWrongRoleIsRefusedNamingTheCredentialToGive) {
  Identity who;
  ASSERT_TRUE(identify(kTokens, "", std::string("c"), &who).ok());
  EXPECT_TRUE(require_role(kTokens, who, Role::Client, "submit jobs").ok());
  grpc::Status st = require_role(kTokens, who, Role::Admin, "stop the broker");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(),
            "the client token has the client role, not the admin role needed to stop the broker: give this "
            "program the admin token (the broker's admin-token-file)");
  st = require_role(BrokerAuth{.certificates = true}, Identity{0, "CN=x"}, Role::Worker,
                    "run jobs as a worker");
  EXPECT_EQ(
      st.error_message(),
      "CN=x has no role, not the worker role needed to run jobs as a worker: give this program a worker "
      "certificate (OU=maelstrom-worker in its subject)");
}

TEST(Roles, TokenSetsMustBeCompleteAndDistinct) {
  EXPECT_NO_THROW(check_broker_auth(BrokerAuth{}));
  EXPECT_NO_THROW(check_broker_auth(kTokens));
  EXPECT_THROW(check_broker_auth(BrokerAuth{.worker_token = "w"}), UserError);
  EXPECT_THROW(check_broker_auth(BrokerAuth{.worker_token = "w", .client_token = "w", .admin_token = "a"}),
               UserError);
}

TEST(Roles, ACertificateThatCannotBeReadIsUnauthenticated) {
  Identity who;
  grpc::Status st = identify(BrokerAuth{.certificates = true}, "not a certificate", std::nullopt, &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace mael::cluster
