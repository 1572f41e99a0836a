// The compositor's per-surface dmabuf feedback decision: when a surface's
// frames are copied, is the feedback sent again? Only for reasons another
// buffer would fix (format, modifier, Y_INVERT), all of them, and once per
// change of reasons, never once per copied frame.
#include <gtest/gtest.h>

#include "server/internal.h"

namespace zc::server {
namespace {

using output::ScanoutReason;
using output::ScanoutReasons;

TEST(SurfaceFeedback, FormatNotOnPlaneResendsOnceNotPerFrame) {
  uint32_t last = 0;
  const ScanoutReasons argb(ScanoutReason::format_not_on_plane);
  EXPECT_TRUE(feedback_resend_needed(last, argb));
  for (int frame = 0; frame < 10; ++frame) EXPECT_FALSE(feedback_resend_needed(last, argb));
  EXPECT_EQ(last, argb.bits());
}

TEST(SurfaceFeedback, EveryFixableReasonCounts) {
  for (ScanoutReason r : {ScanoutReason::format_not_on_plane, ScanoutReason::modifier_not_on_plane,
                          ScanoutReason::y_invert}) {
    uint32_t last = 0;
    EXPECT_TRUE(feedback_resend_needed(last, ScanoutReasons(r))) << output::name(r);
  }
  // GL's ARGB8888 bottom-up buffer: two blockers, both fixable.
  ScanoutReasons both(ScanoutReason::format_not_on_plane);
  both.add(ScanoutReason::y_invert);
  uint32_t last = 0;
  EXPECT_TRUE(feedback_resend_needed(last, both));
}

TEST(SurfaceFeedback, ReasonsFeedbackCannotFixSendNothing) {
  // Feedback names format/modifier pairs, never a size: a buffer of the
  // wrong size is no feedback matter, alone or with a fixable reason.
  for (ScanoutReason r : {ScanoutReason::size_mismatch, ScanoutReason::not_dmabuf, ScanoutReason::import_failed,
                          ScanoutReason::test_only_failed, ScanoutReason::commit_failed}) {
    uint32_t last = 0;
    EXPECT_FALSE(feedback_resend_needed(last, ScanoutReasons(r))) << output::name(r);
    ScanoutReasons with_format(r);
    with_format.add(ScanoutReason::format_not_on_plane);
    EXPECT_FALSE(feedback_resend_needed(last, with_format)) << output::name(r);
    EXPECT_EQ(last, 0u);
  }
}

TEST(SurfaceFeedback, ZeroCopySendsNothingAndAReturnOfTheReasonResendsAgain) {
  uint32_t last = 0;
  const ScanoutReasons argb(ScanoutReason::format_not_on_plane);
  EXPECT_FALSE(feedback_resend_needed(last, ScanoutReasons{}));  // zero-copy from the start
  EXPECT_TRUE(feedback_resend_needed(last, argb));
  EXPECT_FALSE(feedback_resend_needed(last, ScanoutReasons{}));  // the client switched: nothing to say
  EXPECT_EQ(last, 0u);
  EXPECT_TRUE(feedback_resend_needed(last, argb));  // and back: said again
  // A different fixable set is a change, too.
  EXPECT_TRUE(feedback_resend_needed(last, ScanoutReasons(ScanoutReason::y_invert)));
}

}  // namespace
}  // namespace zc::server
