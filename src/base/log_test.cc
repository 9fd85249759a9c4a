#include "base/log.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mael {
namespace {

TEST(LogTap, SeesEveryMessageAtTheLevelAndNotItsOwn) {
  init_logging("info");
  std::vector<std::pair<log::Level, std::string>> seen;
  log::set_tap([&](log::Level level, std::string_view message) {
    seen.emplace_back(level, std::string(message));
    log::warn("logged by the tap");  // not handed back to it (nor a deadlock)
  });
  log::debug("below the level");
  log::info("one {}", 1);
  log::error("two");
  log::set_tap(nullptr);
  log::info("after");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(log::Level::Info, std::string("one 1")));
  EXPECT_EQ(seen[1], std::make_pair(log::Level::Error, std::string("two")));
}

}  // namespace
}  // namespace mael
