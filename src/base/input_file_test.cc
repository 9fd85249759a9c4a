#include "base/input_file.h"

#include <gtest/gtest.h>

#include <iterator>
#include <string>

#include "base/test_errors.h"
#include "base/test_temp_dir.h"

namespace mael {
namespace {

TEST(InputFile, ReadsAFile) {
  testing::ScratchDir dir;
  std::ofstream(dir.path() / "jobs.json") << "{\"program\": \"true\"}\n";
  std::ifstream in = open_input_file(dir.path() / "jobs.json", "job file", "give a file of JSON job specs");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{\"program\": \"true\"}\n");
}

TEST(InputFile, ADirectoryIsRefusedWithTheHint) {
  testing::ScratchDir dir;
  std::string p = dir.path().string();
  EXPECT_EQ(testing::user_error_of([&] { open_input_file(p, "config file", "give a TOML file"); }),
            "cannot read config file " + p + ": it is a directory; give a TOML file");
  EXPECT_EQ(testing::user_error_of([&] { refuse_directory(p, "test spec file", "move it away"); }),
            "cannot read test spec file " + p + ": it is a directory; move it away");
  EXPECT_NO_THROW(refuse_directory(dir.path() / "missing.toml", "test spec file", "move it away"));
}

TEST(InputFile, AMissingFileSaysWhy) {
  testing::ScratchDir dir;
  std::string p = (dir.path() / "missing.json").string();
  EXPECT_EQ(testing::user_error_of([&] { open_input_file(p, "job file", "give a file"); }),
            "cannot read job file " + p + ": No such file or directory");
}

TEST(InputFile, ReadingIsBounded) {
  testing::ScratchDir dir;
  std::ofstream(dir.path() / "a.toml") << std::string(3 << 20, '\n');
  std::string p = (dir.path() / "a.toml").string();
  EXPECT_EQ(read_input_file(p, "spec file", "give a TOML file", 3 << 20).size(), size_t{3} << 20);
  EXPECT_EQ(testing::user_error_of([&] { read_input_file(p, "spec file", "give a TOML file", 2 << 20); }),
            "cannot read spec file " + p + ": longer than 2 MiB (the limit)");
  // An endless file ends at the bound.
  EXPECT_EQ(testing::user_error_of([&] { read_input_file("/dev/zero", "spec file", "", 1 << 20); }),
            "cannot read spec file /dev/zero: longer than 1 MiB (the limit)");
}

}  // namespace
}  // namespace mael
