#include "image/tag_lock.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace mael {
namespace {

Digest d(char c) {
  return Digest::from_hex(std::string(64, c));
}

TEST(TagLock, FormatMatchesMaelstrom) {
  TagTable t;
  t["foo"]["latest"] = d('a');
  t["127.0.0.1:5000/busybox"]["3.19"] = d('b');
  t["127.0.0.1:5000/busybox"]["v1"] = d('c');
  std::string text = format_tag_lock(t);
  EXPECT_EQ(text, "version = 1\n\n[\"127.0.0.1:5000/busybox\"]\n\"3.19\" = \"sha256:" + std::string(64, 'b') +
                      "\"\nv1 = \"sha256:" + std::string(64, 'c') +
                      "\"\n\n[foo]\nlatest = \"sha256:" + std::string(64, 'a') + "\"\n");
  TagTable back = parse_tag_lock(text, "f");
  EXPECT_EQ(back, t);
}

TEST(TagLock, EmptyIsEmpty) {
  EXPECT_TRUE(parse_tag_lock("\n  \n", "f").empty());
}

std::string error_of(const std::string& text) {
  try {
    parse_tag_lock(text, "proj/maelstrom-container-tags.lock");
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(TagLock, MalformedNamesFileAndLine) {
  EXPECT_TRUE(error_of("version = 1\n\n[foo\n").starts_with("proj/maelstrom-container-tags.lock:3:"));
  EXPECT_TRUE(error_of("[foo]\nlatest = \"sha256:" + std::string(64, 'a') + "\"\n")
                  .starts_with("proj/maelstrom-container-tags.lock:1: missing `version = 1`"));
  EXPECT_TRUE(error_of("version = 2\n").starts_with("proj/maelstrom-container-tags.lock:1:"));
  EXPECT_TRUE(
      error_of("version = 1\n[foo]\nlatest = 3\n").starts_with("proj/maelstrom-container-tags.lock:3:"));
  EXPECT_TRUE(error_of("version = 1\n[foo]\n\nlatest = \"sha256:zz\"\n")
                  .starts_with("proj/maelstrom-container-tags.lock:4:"));
  EXPECT_TRUE(error_of("version = 1\nfoo = \"x\"\n").starts_with("proj/maelstrom-container-tags.lock:2:"));
}

}  // namespace
}  // namespace mael
