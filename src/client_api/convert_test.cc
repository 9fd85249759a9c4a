#include "client_api/convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace mael::client_api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string error_of(const pb::JobSpec& j) {
  try {
    job_from_proto(j);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

pb::JobSpec echo() {
  pb::JobSpec j;
  j.set_program("echo");
  return j;
}

TEST(ClientApiConvert, JobFields) {
  pb::JobSpec j = echo();
  j.add_arguments("hi");
  j.set_timeout(5);
  j.set_priority(3);
  j.mutable_estimated_duration()->set_seconds(2);
  j.mutable_estimated_duration()->set_nano_seconds(500'000'000);
  auto* c = j.mutable_container();
  c->add_layers()->mutable_tar()->set_path("a.tar");
  auto* paths = c->add_layers()->mutable_paths();
  paths->add_paths("x");
  paths->mutable_prefix_options()->set_strip_prefix("p/");
  auto* env = c->add_environment();
  (*env->mutable_vars())["A"] = "1";
  env->set_extend(true);
  c->add_mounts()->mutable_tmp()->set_mount_point("/tmp");
  c->add_mounts()->mutable_devices()->add_devices(pb::JOB_DEVICE_NULL);
  c->set_network(pb::JOB_NETWORK_LOOPBACK);
  c->set_user(7);
  auto* image = c->mutable_parent()->mutable_image();
  image->set_name("docker://x");
  image->add_use(pb::IMAGE_USE_WORKING_DIRECTORY);
  j.mutable_allocate_tty()->set_socket_address(std::string("\0abcde", 6));
  j.mutable_allocate_tty()->mutable_window_size()->set_rows(24);
  j.mutable_allocate_tty()->mutable_window_size()->set_columns(80);

  JobSpec s = job_from_proto(j);
  EXPECT_EQ(s.program, "echo");
  EXPECT_EQ(s.arguments, std::vector<std::string>{"hi"});
  EXPECT_EQ(s.timeout, std::chrono::seconds(5));
  EXPECT_EQ(s.priority, 3);
  EXPECT_EQ(s.estimated_duration, std::chrono::milliseconds(2500));
  ASSERT_EQ(s.container.layers.size(), 2u);
  EXPECT_EQ(std::get<TarLayer>(s.container.layers[0]).path, "a.tar");
  EXPECT_EQ(std::get<PathsLayer>(s.container.layers[1]).prefix.strip_prefix, "p/");
  ASSERT_EQ(s.container.environment.size(), 1u);
  EXPECT_EQ(s.container.environment[0].vars.at("A"), "1");
  EXPECT_TRUE(s.container.environment[0].extend);
  ASSERT_EQ(s.container.mounts.size(), 2u);
  EXPECT_EQ(s.container.mounts[0].type, MountType::Tmp);
  EXPECT_EQ(s.container.mounts[1].devices, std::vector<Device>{Device::Null});
  EXPECT_EQ(s.container.network, Network::Loopback);
  EXPECT_EQ(s.container.user, 7u);
  EXPECT_FALSE(s.container.group);
  auto& ref = std::get<ImageRef>(s.container.parent);
  EXPECT_EQ(ref.name, "docker://x");
  EXPECT_EQ(ref.use, std::vector<ImageUse>{ImageUse::WorkingDirectory});
  EXPECT_EQ(s.allocate_tty, (JobTty{std::string("\0abcde", 6), 24, 80}));
}

TEST(ClientApiConvert, EveryLayerAndMountKind) {
  pb::ContainerSpec c;
  auto* glob = c.add_layers()->mutable_glob();
  glob->set_glob("*.so");
  glob->mutable_prefix_options()->set_prepend_prefix("/lib");
  c.add_layers()->mutable_stubs()->add_stubs("/dev/{null,zero}");
  auto* link = c.add_layers()->mutable_symlinks()->add_symlinks();
  link->set_link("/bin/sh");
  link->set_target("busybox");
  auto* so = c.add_layers()->mutable_shared_library_dependencies();
  so->add_binary_paths("/bin/ls");
  so->mutable_prefix_options()->set_follow_symlinks(true);
  auto* cmd = c.add_layers()->mutable_command();
  cmd->set_program("make-tar");
  cmd->add_arguments("-v");
  auto* bind = c.add_mounts()->mutable_bind();
  bind->set_mount_point("/data");
  bind->set_local_path("data");
  bind->set_read_only(true);
  c.add_mounts()->mutable_devpts()->set_mount_point("/dev/pts");
  c.add_mounts()->mutable_mqueue()->set_mount_point("/dev/mqueue");
  c.add_mounts()->mutable_proc()->set_mount_point("/proc");
  c.add_mounts()->mutable_sys()->set_mount_point("/sys");
  auto* parent = c.mutable_parent()->mutable_container();
  parent->set_name("base");
  parent->add_use(pb::CONTAINER_USE_MOUNTS);
  parent->add_use(pb::CONTAINER_USE_GROUP);
  c.set_enable_writable_file_system(true);
  c.set_working_directory("/w");
  c.set_group(5);

  ContainerSpec o = container_from_proto(c, "container");
  ASSERT_EQ(o.layers.size(), 5u);
  EXPECT_EQ(std::get<GlobLayer>(o.layers[0]).prefix.prepend_prefix, "/lib");
  EXPECT_EQ(std::get<StubsLayer>(o.layers[1]).stubs, std::vector<std::string>{"/dev/{null,zero}"});
  EXPECT_EQ(std::get<SymlinksLayer>(o.layers[2]).symlinks[0].target, "busybox");
  EXPECT_TRUE(std::get<SharedLibraryDependenciesLayer>(o.layers[3]).prefix.follow_symlinks);
  EXPECT_EQ(std::get<CommandLayer>(o.layers[4]).arguments, std::vector<std::string>{"-v"});
  ASSERT_EQ(o.mounts.size(), 5u);
  EXPECT_EQ(o.mounts[0].type, MountType::Bind);
  EXPECT_EQ(o.mounts[0].local_path, "data");
  EXPECT_TRUE(o.mounts[0].read_only);
  EXPECT_EQ(o.mounts[1].type, MountType::Devpts);
  EXPECT_EQ(o.mounts[2].type, MountType::Mqueue);
  EXPECT_EQ(o.mounts[3].type, MountType::Proc);
  EXPECT_EQ(o.mounts[4].type, MountType::Sys);
  auto& ref = std::get<ContainerRef>(o.parent);
  EXPECT_EQ(ref.use, (std::vector<ContainerUse>{ContainerUse::Mounts, ContainerUse::Group}));
  EXPECT_EQ(o.enable_writable_file_system, true);
  EXPECT_EQ(o.working_directory, "/w");
  EXPECT_EQ(o.group, 5u);
}

TEST(ClientApiConvert, ZeroTimeoutIsNone) {
  pb::JobSpec j = echo();
  j.set_timeout(0);
  EXPECT_FALSE(job_from_proto(j).timeout);
}

TEST(ClientApiConvert, ErrorsNameTheField) {
  pb::JobSpec j = echo();
  j.mutable_container()->set_network(static_cast<pb::JobNetwork>(9));
  EXPECT_THAT(error_of(j), StartsWith("spec.container.network: unknown JobNetwork value 9"));

  j = echo();
  j.mutable_container()->add_layers();
  EXPECT_THAT(error_of(j), StartsWith("spec.container.layers[0]: "));

  j = echo();
  j.mutable_container()->add_mounts()->mutable_bind()->set_mount_point("/m");
  EXPECT_THAT(error_of(j), StartsWith("spec.container.mounts[0].bind.local_path: "));

  j = echo();
  j.mutable_allocate_tty();
  EXPECT_THAT(error_of(j), StartsWith("spec.allocate_tty.socket_address: "));

  j = echo();
  j.mutable_allocate_tty()->set_socket_address(std::string("\0abcde", 6));
  j.mutable_allocate_tty()->mutable_window_size()->set_rows(70000);
  EXPECT_THAT(error_of(j), StartsWith("spec.allocate_tty.window_size: "));

  j = echo();
  j.set_program("");
  EXPECT_THAT(error_of(j), StartsWith("spec.program: "));
}

TEST(ClientApiConvert, Outcomes) {
  JobOutcome exited{Exited{3}, {}};
  exited.effects.stdout_.first = "out";
  exited.effects.stderr_ = {"er", 10};
  exited.effects.duration = std::chrono::milliseconds(1500);
  pb::JobStatus s = completed_status(4, exited);
  EXPECT_EQ(s.completed().client_job_id(), 4u);
  const auto& done = s.completed().result().outcome().completed();
  EXPECT_EQ(done.exited(), 3u);
  EXPECT_EQ(done.effects().stdout().inline_(), "out");
  EXPECT_EQ(done.effects().stderr().truncated().first(), "er");
  EXPECT_EQ(done.effects().stderr().truncated().truncated(), 10u);
  EXPECT_EQ(done.effects().duration().seconds(), 1u);
  EXPECT_EQ(done.effects().duration().nano_seconds(), 500'000'000u);

  s = completed_status(1, JobOutcome{Signaled{9}, {}});
  EXPECT_EQ(s.completed().result().outcome().completed().signaled(), 9u);
  EXPECT_TRUE(s.completed().result().outcome().completed().effects().stdout().has_none());

  s = completed_status(1, JobOutcome{TimedOut{}, {}});
  EXPECT_TRUE(s.completed().result().outcome().has_timed_out());

  s = completed_status(1, JobOutcome{JobError{JobErrorKind::Execution, "no such program"}, {}});
  EXPECT_EQ(s.completed().result().error().execution(), "no such program");
  s = completed_status(1, JobOutcome{JobError{JobErrorKind::System, "cancelled"}, {}});
  EXPECT_EQ(s.completed().result().error().system(), "cancelled");
}

TEST(ClientApiConvert, RunningStates) {
  EXPECT_EQ(running_status(JobState::Pending, false).running().at_local_worker(),
            pb::JOB_WORKER_STATUS_WAITING_TO_EXECUTE);
  EXPECT_TRUE(running_status(JobState::Pending, true).running().at_broker().has_waiting_for_worker());
  EXPECT_EQ(running_status(JobState::Running, true).running().at_broker().at_worker().status(),
            pb::JOB_WORKER_STATUS_EXECUTING);
  EXPECT_EQ(running_status(JobState::Running, true, 3).running().at_broker().at_worker().worker_id(), 3u);
}

TEST(ClientApiConvert, WorkerIdOfTheBrokersName) {
  EXPECT_EQ(worker_id_of("worker 12 (w1)"), 12u);
  EXPECT_EQ(worker_id_of("worker 99999999999 (w1)"), 0u);
  EXPECT_EQ(worker_id_of("somewhere"), 0u);
  EXPECT_EQ(worker_id_of(""), 0u);
}

}  // namespace
}  // namespace mael::client_api
