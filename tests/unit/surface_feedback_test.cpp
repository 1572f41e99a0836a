// The compositor's per-surface dmabuf feedback decision: when a surface's
// frames are copied, is the feedback sent again? Only for reasons another
// buffer would fix (format, modifier, Y_INVERT), all of them, and once per
// change of reasons, never once per copied frame.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

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

// The lifetimes: a surface's feedback objects sit in its ResourceList.
// Either may die first: a feedback destroyed by its client leaves the list;
// a surface destroyed first drops the list, and its feedbacks (inert now)
// are destroyed later without touching it. Real resources of a real client.
struct WaylandClient {
  WaylandClient() {
    display = wl_display_create();
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer = fds[1];
    client = wl_client_create(display, fds[0]);
  }
  ~WaylandClient() {
    wl_client_destroy(client);
    wl_display_destroy(display);
    ::close(peer);
  }
  // As make_feedback creates a per-surface feedback (any interface will do).
  wl_resource* feedback(ResourceList& list) {
    wl_resource* r = wl_resource_create(client, &wl_callback_interface, 1, 0);
    wl_resource_set_implementation(r, nullptr, nullptr, &ResourceList::unlink_on_destroy);
    list.push_back(r);
    return r;
  }
  wl_display* display = nullptr;
  wl_client* client = nullptr;
  int peer = -1;
};

int count(const ResourceList& l) {
  int n = 0;
  l.for_each([&n](wl_resource*) { n++; });
  return n;
}

TEST(SurfaceFeedback, ResendingVisitsEveryFeedbackAndKeepsThem) {
  WaylandClient c;
  ResourceList surface_feedbacks;
  c.feedback(surface_feedbacks);
  c.feedback(surface_feedbacks);
  EXPECT_EQ(count(surface_feedbacks), 2);
  EXPECT_EQ(count(surface_feedbacks), 2) << "for_each must not take entries out";
}

TEST(SurfaceFeedback, FeedbackDestroyedFirstLeavesTheSurfaceList) {
  WaylandClient c;
  ResourceList surface_feedbacks;
  wl_resource* a = c.feedback(surface_feedbacks);
  c.feedback(surface_feedbacks);
  wl_resource_destroy(a);
  EXPECT_EQ(count(surface_feedbacks), 1);
}

TEST(SurfaceFeedback, SurfaceDestroyedFirstLeavesItsFeedbacksInert) {
  WaylandClient c;
  auto surface_feedbacks = std::make_unique<ResourceList>();
  wl_resource* a = c.feedback(*surface_feedbacks);
  wl_resource* b = c.feedback(*surface_feedbacks);
  surface_feedbacks.reset();  // the surface (and its list) goes first
  wl_resource_destroy(a);     // then its feedbacks: nothing to unlink from
  wl_resource_destroy(b);
  SUCCEED();
}

}  // namespace
}  // namespace zc::server
