#include "container/job_script.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/test_temp_dir.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

TEST(MissingInterpreter, NamesTheLoaderOrScriptInterpreterNoLayerHas) {
  testing::ScratchDir t;
  fs::path bottom = t / "bottom", top = t / "top";
  fs::create_directories(bottom / "bin");
  fs::create_directories(top);
  fs::copy_file("/bin/ls", bottom / "bin/prog");  // a dynamic executable of this machine
  t.write("top/run.sh", "#!/bin/bash -e\necho hi\n");
  std::vector<fs::path> layers{bottom, top};
  std::optional<std::string> loader = missing_interpreter(layers, "/bin/prog");
  ASSERT_TRUE(loader.has_value());
  EXPECT_EQ(loader->rfind("/lib", 0), 0u) << *loader;  // /lib64/ld-linux-x86-64.so.2 here
  EXPECT_EQ(missing_interpreter(layers, "/run.sh"), "/bin/bash");
  EXPECT_EQ(missing_interpreter(layers, "/absent"), std::nullopt);  // the program itself is missing
  EXPECT_EQ(missing_interpreter(layers, "relative"), std::nullopt);

  // Once a layer has them, nothing is missing.
  t.write("top" + *loader, "");
  t.write("top/bin/bash", "");
  EXPECT_EQ(missing_interpreter(layers, "/bin/prog"), std::nullopt);
  EXPECT_EQ(missing_interpreter(layers, "/run.sh"), std::nullopt);
}

}  // namespace
}  // namespace mael
