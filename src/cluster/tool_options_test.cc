#include "cluster/tool_options.h"

#include <gtest/gtest.h>

namespace mael::cluster {
namespace {

TEST(HostPort, AcceptsHostsAndPortsAConnectionCanUse) {
  for (const char* ok : {"localhost:9001", "10.0.0.7:1", "[::1]:65535", "broker.example.com:443"})
    EXPECT_EQ(host_port_problem(ok), std::nullopt) << ok;
}

TEST(HostPort, SaysWhatIsWrong) {
  EXPECT_EQ(host_port_problem("localhost"), "expected HOST:PORT, e.g. localhost:9001 (the port is missing)");
  EXPECT_EQ(host_port_problem(""), "expected HOST:PORT, e.g. localhost:9001 (the port is missing)");
  EXPECT_EQ(host_port_problem(":9001"), "expected HOST:PORT, e.g. localhost:9001 (the host is missing)");
  for (const char* port : {"localhost:", "localhost:0", "localhost:99999", "localhost:65536",
                           "localhost:9o01", "localhost:-1", "localhost:123456"})
    EXPECT_EQ(host_port_problem(port), "the port must be a number from 1 to 65535") << port;
  EXPECT_EQ(host_port_problem("::1:9001"), "write an IPv6 host in brackets, e.g. [::1]:9001");
  EXPECT_EQ(host_port_problem("[::1:9001"), "write an IPv6 host in brackets, e.g. [::1]:9001");
  EXPECT_EQ(host_port_problem("[]:9001"), "write an IPv6 host in brackets, e.g. [::1]:9001");
  EXPECT_EQ(host_port_problem("[::1]"), "expected HOST:PORT, e.g. localhost:9001 (the port is missing)");
  EXPECT_EQ(host_port_problem("http://broker:9001"), "expected HOST:PORT, e.g. localhost:9001");
  EXPECT_EQ(host_port_problem("my host:9001"), "expected HOST:PORT, e.g. localhost:9001");
}

}  // namespace
}  // namespace mael::cluster
