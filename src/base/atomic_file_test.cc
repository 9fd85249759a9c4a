#include "base/atomic_file.h"

#include <gtest/gtest.h>

#include <system_error>

#include "base/test_temp_dir.h"

namespace mael {
namespace {

namespace fs = std::filesystem;

using testing::count_entries;
using testing::read_text;

TEST(WriteFileAtomically, CreatesAndReplacesLeavingOnlyTheFile) {
  testing::ScratchDir dir;
  fs::path f = dir / "state.json";
  write_file_atomically(f, "first");
  EXPECT_EQ(read_text(f), "first");
  write_file_atomically(f, "second, longer", /*durable=*/true);
  EXPECT_EQ(read_text(f), "second, longer");
  write_file_atomically(f, "");
  EXPECT_EQ(read_text(f), "");
  EXPECT_EQ(count_entries(dir.path()), 1u);
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
  EXPECT_EQ(count_entries(dir.path()), 1u);
}

}  // namespace
}  // namespace mael

TEST(WriteFileAtomically, TellsTheFileAndItsTemporariesFromOthers) {
  using mael::is_file_or_its_atomic_temp;
  const std::filesystem::path report = "/p/report.xml";
  EXPECT_TRUE(is_file_or_its_atomic_temp("/p/report.xml", report));
  EXPECT_TRUE(is_file_or_its_atomic_temp("/p/report.xml.tmp.41.9876", report));
  EXPECT_FALSE(is_file_or_its_atomic_temp("/p/report.xml.bak", report));
  EXPECT_FALSE(is_file_or_its_atomic_temp("/p/report.xml.tmp.1/x", report));
  EXPECT_FALSE(is_file_or_its_atomic_temp("/p/other.xml", report));
}
