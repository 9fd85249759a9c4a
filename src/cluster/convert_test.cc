#include "cluster/convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace mael::cluster {
namespace {

using ::testing::HasSubstr;

ResolvedJob full_job() {
  ResolvedJob j;
  j.layers = {Digest::of_bytes("a"), Digest::of_bytes("b")};
  j.enable_writable_file_system = true;
  j.mounts = {Mount{MountType::Proc, "/proc"},
              Mount{MountType::Devices, "", "", false, {Device::Null, Device::Zero}},
              Mount{MountType::Tmp, "/tmp"}};
  j.network = Network::Loopback;
  j.program = "sh";
  j.arguments = {"-c", "echo hi"};
  j.environment = {"PATH=/bin", "EMPTY="};
  j.working_directory = "/work";
  j.user = 1000;
  j.group = 100;
  j.timeout = std::chrono::milliseconds(2500);
  j.priority = -3;
  j.estimated_duration = std::chrono::milliseconds(1234);
  j.limits = JobLimits{64, uint64_t{1} << 30, std::nullopt};
  return j;
}

void expect_same(const ResolvedJob& a, const ResolvedJob& b) {
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.enable_writable_file_system, b.enable_writable_file_system);
  EXPECT_EQ(a.mounts, b.mounts);
  EXPECT_EQ(a.network, b.network);
  EXPECT_EQ(a.program, b.program);
  EXPECT_EQ(a.arguments, b.arguments);
  EXPECT_EQ(a.environment, b.environment);
  EXPECT_EQ(a.working_directory, b.working_directory);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.estimated_duration, b.estimated_duration);
  EXPECT_EQ(a.limits, b.limits);
}

TEST(Convert, ResolvedJobRoundTrips) {
  pb::ResolvedJob p;
  to_proto(full_job(), &p);
  // Through the wire format too.
  pb::ResolvedJob q;
  ASSERT_TRUE(q.ParseFromString(p.SerializeAsString()));
  expect_same(from_proto(q), full_job());
}

TEST(Convert, UnsetOptionalsStayUnset) {
  ResolvedJob j;
  j.program = "true";
  pb::ResolvedJob p;
  to_proto(j, &p);
  ResolvedJob back = from_proto(p);
  EXPECT_FALSE(back.timeout);
  EXPECT_FALSE(back.estimated_duration);
  EXPECT_EQ(back.limits, JobLimits{});
  EXPECT_EQ(back.working_directory, "/");
  // A limit of 0 (none) never comes from a peer.
  p.set_max_processes(0);
  EXPECT_THROW(from_proto(p), UserError);
}

TEST(Convert, OutcomesRoundTrip) {
  JobOutcome o{Exited{3}, {}};
  o.effects.stdout_ = {"out", 0};
  o.effects.stderr_ = {"err", 77};
  o.effects.duration = std::chrono::nanoseconds(123456789);
  pb::JobOutcome p;
  to_proto(o, &p);
  JobOutcome back = from_proto(p);
  EXPECT_EQ(std::get<Exited>(back.result).code, 3);
  EXPECT_EQ(back.effects.stdout_, o.effects.stdout_);
  EXPECT_EQ(back.effects.stderr_, o.effects.stderr_);
  EXPECT_EQ(back.effects.duration, o.effects.duration);

  to_proto(JobOutcome{Signaled{9}, {}}, &p);
  EXPECT_EQ(std::get<Signaled>(from_proto(p).result).signal, 9);
  to_proto(JobOutcome{TimedOut{}, {}}, &p);
  EXPECT_TRUE(std::holds_alternative<TimedOut>(from_proto(p).result));
  to_proto(JobOutcome{JobError{JobErrorKind::Execution, "no such program"}, {}}, &p);
  auto err = std::get<JobError>(from_proto(p).result);
  EXPECT_EQ(err.kind, JobErrorKind::Execution);
  EXPECT_EQ(err.message, "no such program");
  p.Clear();
  EXPECT_EQ(std::get<JobError>(from_proto(p).result).kind, JobErrorKind::System);
}

// What from_proto says of full_job() changed by `mutate`: its UserError, or "accepted".
template <typename F>
std::string bad(F mutate) {
  pb::ResolvedJob p;
  to_proto(full_job(), &p);
  mutate(p);
  try {
    from_proto(p);
  } catch (const UserError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(Convert, MalformedJobsAreUserErrors) {
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.set_layers(0, "short"); }), HasSubstr("malformed digest"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.clear_program(); }), HasSubstr("program is empty"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.add_environment("NOEQUALS"); }), HasSubstr("not NAME=value"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.set_working_directory("rel"); }), HasSubstr("not absolute"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.mutable_mounts(0)->set_mount_point("proc"); }),
              HasSubstr("not an absolute path"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.mutable_mounts(0)->set_type(static_cast<pb::MountType>(42)); }),
              HasSubstr("unknown mount type"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.set_network(static_cast<pb::Network>(7)); }),
              HasSubstr("unknown network"));
  EXPECT_THAT(bad([](pb::ResolvedJob& p) { p.mutable_mounts(1)->add_devices(static_cast<pb::Device>(99)); }),
              HasSubstr("unknown device"));
}

TEST(Convert, PeerJobsAreBounded) {
  EXPECT_EQ(bad([](pb::ResolvedJob& p) {
              for (int i = 0; i < 1024; ++i) p.add_layers(std::string(32, 'x'));
            }),
            "malformed job: 1026 layers, more than 1024");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) {
              for (int i = 0; i < 1022; ++i) p.add_mounts()->set_type(pb::MOUNT_DEVICES);
            }),
            "malformed job: 1025 mounts, more than 1024");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) {
              for (int i = 0; i < 1025; ++i) p.mutable_mounts(1)->add_devices(pb::DEVICE_NULL);
            }),
            "malformed job: 1027 devices in one mount, more than 1024");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) {
              for (int i = 0; i < 65533; ++i) p.add_arguments("a");
            }),
            "malformed job: 65537 arguments and environment entries, more than 65536");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.add_arguments(std::string(128 << 10, 'a') + "a"); }),
            "malformed job: an argument is 131073 bytes long, more than 131072");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.set_program(std::string("sh\0x", 4)); }),
            "malformed job: the program has a NUL byte");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.add_environment(std::string("A=1\0B=2", 7)); }),
            "malformed job: an environment entry has a NUL byte");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.set_working_directory(std::string("/a\0b", 4)); }),
            "malformed job: the working directory has a NUL byte");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.mutable_mounts(0)->set_mount_point(std::string("/p\0", 3)); }),
            "malformed job: a mount point has a NUL byte");
  // A timeout past Maelstrom's (32 bits of seconds) used to wrap around to a negative one.
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.set_timeout_ms(UINT64_MAX); }),
            "malformed job: a timeout of 18446744073709551615 ms, more than 4294967295000");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.set_estimated_duration_ms(uint64_t{1} << 63); }),
            "malformed job: an estimated duration of 9223372036854775808 ms, more than 4294967295000");
  EXPECT_EQ(bad([](pb::ResolvedJob& p) { p.set_timeout_ms(uint64_t{0xffffffff} * 1000); }), "accepted");
}

TEST(Convert, ImpossibleOutcomesAreSystemErrors) {
  auto outcome = [](auto mutate) {
    pb::JobOutcome p;
    to_proto(JobOutcome{Exited{0}, {}}, &p);
    mutate(p);
    return from_proto(p);
  };
  auto message = [](const JobOutcome& o) {
    const auto* e = std::get_if<JobError>(&o.result);
    return e && e->kind == JobErrorKind::System ? e->message : "no system error";
  };
  // An exit code of 256 would have made maelstrom-run exit with 0.
  EXPECT_EQ(message(outcome([](pb::JobOutcome& p) { p.set_exited(256); })),
            "malformed outcome from worker: exit code 256");
  EXPECT_EQ(message(outcome([](pb::JobOutcome& p) { p.set_exited(-1); })),
            "malformed outcome from worker: exit code -1");
  EXPECT_EQ(message(outcome([](pb::JobOutcome& p) { p.set_signaled(0); })),
            "malformed outcome from worker: signal 0");
  EXPECT_EQ(message(outcome([](pb::JobOutcome& p) { p.set_signaled(65); })),
            "malformed outcome from worker: signal 65");
  JobOutcome long_one = outcome([](pb::JobOutcome& p) { p.set_duration_ns(UINT64_MAX); });
  EXPECT_EQ(message(long_one), "malformed outcome from worker: duration of 18446744073709551615 ns");
  EXPECT_EQ(long_one.effects.duration, std::chrono::nanoseconds::max());
  EXPECT_EQ(std::get<Exited>(outcome([](pb::JobOutcome& p) { p.set_exited(255); }).result).code, 255);
  EXPECT_EQ(std::get<Signaled>(outcome([](pb::JobOutcome& p) { p.set_signaled(64); }).result).signal, 64);
}

}  // namespace
}  // namespace mael::cluster
