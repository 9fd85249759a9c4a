#include "image/image_name.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace mael {
namespace {

DockerRef docker(const std::string& s) {
  return std::get<DockerRef>(parse_image_name(s));
}

TEST(ImageName, DockerHubShortName) {
  DockerRef r = docker("docker://alpine");
  EXPECT_TRUE(r.docker_hub);
  EXPECT_EQ(r.host, "registry-1.docker.io");
  EXPECT_EQ(r.repository, "library/alpine");
  EXPECT_FALSE(r.tag);
  EXPECT_EQ(r.tag_or_latest(), "latest");
  EXPECT_EQ(r.lock_key, "alpine");
}

TEST(ImageName, DockerHubWithNamespaceAndTag) {
  DockerRef r = docker("docker://foo/bar:1.2-x");
  EXPECT_TRUE(r.docker_hub);
  EXPECT_EQ(r.repository, "foo/bar");
  EXPECT_EQ(r.tag, "1.2-x");
  EXPECT_EQ(r.lock_key, "foo/bar");
  EXPECT_EQ(docker("docker://docker.io/library/alpine").repository, "library/alpine");
  EXPECT_TRUE(docker("docker://docker.io/library/alpine").docker_hub);
}

TEST(ImageName, OtherRegistries) {
  DockerRef r = docker("docker://127.0.0.1:5000/a/b:v1");
  EXPECT_FALSE(r.docker_hub);
  EXPECT_EQ(r.host, "127.0.0.1:5000");
  EXPECT_EQ(r.repository, "a/b");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(r.lock_key, "127.0.0.1:5000/a/b");
  EXPECT_EQ(docker("docker://localhost/x").host, "localhost");
  EXPECT_EQ(docker("docker://ghcr.io/o/r").host, "ghcr.io");
  // A first component without '.' or ':' is a Docker Hub namespace.
  EXPECT_TRUE(docker("docker://localhostx/y").docker_hub);
}

TEST(ImageName, Digest) {
  std::string hex(64, 'a');
  DockerRef r = docker("docker://host:1/r:t@sha256:" + hex);
  EXPECT_EQ(r.tag, "t");
  ASSERT_TRUE(r.digest);
  EXPECT_EQ(r.digest->hex(), hex);
  EXPECT_EQ(r.lock_key, "host:1/r");
  EXPECT_THROW(parse_image_name("docker://r@sha256:abc"), UserError);
  EXPECT_THROW(parse_image_name("docker://r@md5:" + hex), UserError);
}

TEST(ImageName, Local) {
  auto oci = std::get<LocalRef>(parse_image_name("oci:/some/dir:v1:x"));
  EXPECT_EQ(oci.kind, LocalRef::Kind::kOciDir);
  EXPECT_EQ(oci.path, "/some/dir");
  EXPECT_EQ(oci.reference, "v1:x");
  auto arch = std::get<LocalRef>(parse_image_name("oci-archive:rel/file.tar"));
  EXPECT_EQ(arch.kind, LocalRef::Kind::kOciArchive);
  EXPECT_EQ(arch.path, "rel/file.tar");
  EXPECT_EQ(arch.reference, "");
  auto dock = std::get<LocalRef>(parse_image_name("docker-archive:/f.tar:img:tag"));
  EXPECT_EQ(dock.kind, LocalRef::Kind::kDockerArchive);
  EXPECT_EQ(dock.reference, "img:tag");
}

TEST(ImageName, Invalid) {
  for (const char* bad :
       {"alpine", "docker://", "docker://a:", "docker://a//b", "oci:", "docker://a:b c", "http://x"}) {
    EXPECT_THROW(parse_image_name(bad), UserError) << bad;
  }
  try {
    parse_image_name("alpine");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("docker://"), std::string::npos);
  }
}

}  // namespace
}  // namespace mael
