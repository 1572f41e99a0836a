// output::ScanoutReason: stable names (the JSON's), a sentence each, and
// the set that names every blocker of a frame.
#include "output/scanout_reason.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace zc::test {
namespace {

using output::ScanoutReason;
using output::ScanoutReasons;

TEST(ScanoutReason, NamesAreStableAndDistinct) {
  // These strings are an interface (JSON, scripts, the vm checks): renaming
  // one is a breaking change, and this test says so.
  EXPECT_STREQ(output::name(ScanoutReason::format_not_on_plane), "format_not_on_plane");
  EXPECT_STREQ(output::name(ScanoutReason::not_dmabuf), "not_dmabuf");
  EXPECT_STREQ(output::name(ScanoutReason::modifier_not_on_plane), "modifier_not_on_plane");
  EXPECT_STREQ(output::name(ScanoutReason::y_invert), "y_invert");
  EXPECT_STREQ(output::name(ScanoutReason::size_mismatch), "size_mismatch");
  EXPECT_STREQ(output::name(ScanoutReason::import_failed), "import_failed");
  EXPECT_STREQ(output::name(ScanoutReason::test_only_failed), "test_only_failed");
  EXPECT_STREQ(output::name(ScanoutReason::commit_failed), "commit_failed");
  EXPECT_STREQ(output::name(ScanoutReason::modifier_not_linear), "modifier_not_linear");
  std::set<std::string> names, sentences;
  for (int i = 0; i < static_cast<int>(ScanoutReason::count); ++i) {
    const auto r = static_cast<ScanoutReason>(i);
    names.insert(output::name(r));
    sentences.insert(output::describe(r));
    EXPECT_GT(std::string(output::describe(r)).size(), 20u) << output::name(r) << ": a sentence, not a word";
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(ScanoutReason::count));
  EXPECT_EQ(sentences.size(), static_cast<size_t>(ScanoutReason::count));
}

TEST(ScanoutReason, SetKeepsEveryReasonInEnumOrder) {
  ScanoutReasons r;
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(r.names().empty());
  EXPECT_EQ(r.describe(), "");
  r.add(ScanoutReason::y_invert);
  r.add(ScanoutReason::format_not_on_plane);
  r.add(ScanoutReason::y_invert);  // a set: once
  EXPECT_TRUE(r.has(ScanoutReason::y_invert));
  EXPECT_FALSE(r.has(ScanoutReason::size_mismatch));
  ASSERT_EQ(r.names().size(), 2u);
  EXPECT_STREQ(r.names()[0], "format_not_on_plane");
  EXPECT_STREQ(r.names()[1], "y_invert");
  EXPECT_EQ(r.describe(), std::string(output::describe(ScanoutReason::format_not_on_plane)) + "; " +
                              output::describe(ScanoutReason::y_invert));
  EXPECT_EQ(ScanoutReasons(ScanoutReason::y_invert).bits(), 1u << static_cast<int>(ScanoutReason::y_invert));
}

}  // namespace
}  // namespace zc::test
