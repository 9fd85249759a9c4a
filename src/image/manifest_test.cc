#include "image/manifest.h"

#include <gtest/gtest.h>

#include <functional>

#include "base/error.h"

namespace mael {
namespace {

std::string digest(char c) {
  return "sha256:" + std::string(64, c);
}

TEST(Manifest, ImageManifest) {
  std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
                     digest('a') + R"(","size":10},
    "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")" +
                     digest('b') + R"(","size":5},
              {"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":")" +
                     digest('c') + R"(","size":6}]})";
  Manifest m = parse_manifest(body, "", "m");
  EXPECT_FALSE(m.is_index);
  EXPECT_EQ(m.config.digest.hex(), std::string(64, 'a'));
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].digest.hex(), std::string(64, 'b'));
  EXPECT_EQ(m.layers[1].size, 6);
}

TEST(Manifest, IndexFromContentTypeAndSelection) {
  std::string body = R"({"schemaVersion":2,"manifests":[
    {"digest":")" + digest('1') +
                     R"(","platform":{"os":"linux","architecture":"amd64"}},
    {"digest":")" + digest('2') +
                     R"(","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"digest":")" + digest('3') +
                     R"(","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
    {"digest":")" + digest('4') +
                     R"(","platform":{"os":"unknown","architecture":"unknown"}}]})";
  Manifest m = parse_manifest(body, "application/vnd.docker.distribution.manifest.list.v2+json", "i");
  ASSERT_TRUE(m.is_index);
  EXPECT_EQ(select_platform(m.manifests, {"linux", "amd64", ""}).digest.hex(), std::string(64, '1'));
  // arm64 without a variant matches v8.
  EXPECT_EQ(select_platform(m.manifests, {"linux", "arm64", ""}).digest.hex(), std::string(64, '2'));
  EXPECT_EQ(select_platform(m.manifests, parse_platform("linux/arm/v7")).digest.hex(), std::string(64, '3'));
  try {
    select_platform(m.manifests, parse_platform("linux/s390x"));
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "no manifest for platform linux/s390x (available: linux/amd64, linux/arm64/v8, "
                 "linux/arm/v7)");
  }
}

TEST(Manifest, Rejects) {
  EXPECT_THROW(parse_manifest("not json", "", "x"), UserError);
  EXPECT_THROW(parse_manifest(R"({"schemaVersion":1,"fsLayers":[]})", "", "x"), UserError);
  EXPECT_THROW(parse_manifest(R"({"schemaVersion":2,"config":{"digest":"sha512:ab"},"layers":[]})", "", "x"),
               UserError);
  std::string foreign = R"({"schemaVersion":2,"config":{"digest":")" + digest('a') +
                        R"("},"layers":[{"mediaType":"application/x-helm","digest":")" + digest('b') +
                        R"("}]})";
  EXPECT_THROW(parse_manifest(foreign, "", "x"), UserError);
}

TEST(Manifest, Config) {
  ImageConfig c = parse_image_config(
      R"({"architecture":"amd64","config":{"Env":["A=1","PATH=/bin"],"WorkingDir":"/w"}})", "c");
  EXPECT_EQ(c.environment, (std::vector<std::string>{"A=1", "PATH=/bin"}));
  EXPECT_EQ(c.working_directory, "/w");
  ImageConfig empty = parse_image_config(R"({"config":{"WorkingDir":""}})", "c");
  EXPECT_TRUE(empty.environment.empty());
  EXPECT_FALSE(empty.working_directory);
}

TEST(Manifest, HostPlatform) {
  Platform p = host_platform();
  EXPECT_EQ(p.os, "linux");
  EXPECT_FALSE(p.architecture.empty());
  EXPECT_THROW(parse_platform("linux"), UserError);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Manifest, SizeAndDepthAreBounded) {
  auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  std::string deep = R"({"schemaVersion": 2, "layers": )" + nested(1'000'000) + "}";
  EXPECT_EQ(error_of([&] { parse_manifest(deep, "", "m"); }),
            "m: manifest nested more than 128 levels deep (the limit)");
  EXPECT_EQ(error_of([&] { parse_image_config(R"({"config": {"Env": )" + nested(127) + "}}", "c"); }),
            "c: config nested more than 128 levels deep (the limit)");
  EXPECT_EQ(error_of([&] { parse_image_config(R"({"config": {"Env": )" + nested(126) + "}}", "c"); }),
            "no error");
  std::string big = R"({"schemaVersion": 2, "x": ")" + std::string(4 << 20, 'x') + R"("})";
  EXPECT_EQ(error_of([&] { parse_manifest(big, "", "m"); }),
            "m: manifest of " + std::to_string(big.size()) + " bytes, more than 4 MiB (the limit)");
  std::string big_config = R"({"x": ")" + std::string(8 << 20, 'x') + R"("})";
  EXPECT_EQ(error_of([&] { parse_image_config(big_config, "c"); }),
            "c: config of " + std::to_string(big_config.size()) + " bytes, more than 8 MiB (the limit)");
}

}  // namespace
}  // namespace mael
