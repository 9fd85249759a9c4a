#include "runner/binary_layers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <variant>

#include "layers/layer_builder.h"
#include "store/artifact_store.h"

namespace mael {
namespace {

TEST(BinaryLayers, LibrariesLayerHoldsWhatTheSharedLibraryLayerWould) {
  // The client's layer builder plans both forms of the libraries layer alike.
  auto dir = std::filesystem::temp_directory_path() / ("mael-binlayers-" + std::to_string(getpid()));
  {
    ArtifactStore store(dir / "store");
    LayerBuilder builder(store, dir);
    SharedLibraryResolver resolver = make_shared_library_resolver();
    TestBinaryLayers layers(resolver, "/bin/sh");
    ASSERT_TRUE(std::holds_alternative<PathsLayer>(layers.shared_libraries()));
    SharedLibraryDependenciesLayer deps;
    deps.binary_paths = {"/bin/sh"};
    deps.prefix.follow_symlinks = true;
    auto want = builder.plan(deps);
    auto got = builder.plan(layers.shared_libraries());
    ASSERT_FALSE(want.empty());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].path, want[i].path);
    auto bin = builder.plan(layers.binary());
    ASSERT_EQ(bin.size(), 1u);
    EXPECT_EQ(bin[0].path, "sh");
    // A binary the resolver cannot read keeps the client's own layer, so each test reports it.
    TestBinaryLayers missing(resolver, dir / "no-such-binary");
    EXPECT_TRUE(std::holds_alternative<SharedLibraryDependenciesLayer>(missing.shared_libraries()));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mael
