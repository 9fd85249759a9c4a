#include "base/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include "base/test_temp_dir.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(WriteFileAtomically, CreatesAndReplacesLeavingOnlyTheFile) {
  testing::ScratchDir dir;
  fs::path f = dir / "state.json";
  write_file_atomically(f, "first");
  EXPECT_EQ(read(f), "first");
  write_file_atomically(f, "second, longer", /*durable=*/true);
  EXPECT_EQ(read(f), "second, longer");
  write_file_atomically(f, "");
  EXPECT_EQ(read(f), "");
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST(WriteFileAtomically, FailuresNameTheStepAndLeaveNothing) {
  testing::ScratchDir dir;
  try {
    write_file_atomically(dir / "no-such-dir" / "f", "x");
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("creating " + (dir / "no-such-dir").string()), std::string::npos)
        << e.what();
  }
  // A directory in the way: the rename fails, the temporary file goes.
  fs::create_directories(dir / "taken" / "child");
  try {
    write_file_atomically(dir / "taken", "x");
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("renaming "), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(dir.path()), 1u);
}

}  // namespace
}  // namespace mael
