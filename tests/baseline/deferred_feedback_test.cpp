// A socket-baseline commit whose bytes have not all arrived is deferred,
// together with its frame callbacks and presentation feedback. If the
// stream or the surface goes away while it waits, the commit can never be
// shown, and presentation-time says what the client must hear then: "the
// user did not see the content update because it was superseded or its
// surface destroyed, and the content update is discarded". Each
// wp_presentation_feedback gets exactly one of presented / discarded.
#include <gtest/gtest.h>

#include "scenario.h"

namespace zcb {
namespace {

// A deferred commit with one feedback: attach_frame(0) + commit while only
// part of frame 0 is on the socket.
void deferred_commit(RawClient& c) {
  c.make_window();
  ASSERT_TRUE(c.get_stream(65536)) << RawClient::describe(c.error());
  c.write_header(valid_header(kW, kH, 0), 64 * 1024);
  c.attach_frame(0);
  c.request_feedback();
  c.commit();
  ASSERT_TRUE(c.roundtrip()) << RawClient::describe(c.error());
  ASSERT_EQ(c.presented() + c.discarded(), 0u) << "the commit must wait for its bytes";
}

TEST(BaselineDeferredFeedback, StreamDestroyedWhileACommitWaitsDiscardsIt) {
  Scenario sc(60);
  RawClient c(sc.socket_path());
  deferred_commit(c);
  c.destroy_stream();
  ASSERT_TRUE(c.roundtrip());  // gone before its socket closes: no truncation to report
  c.close_data();
  EXPECT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() == 1; }, 5s))
      << "the deferred commit's wp_presentation_feedback got neither presented nor discarded";
  EXPECT_EQ(c.discarded(), 1u);
  EXPECT_EQ(c.presented(), 0u);
  EXPECT_EQ(c.error().error, 0) << RawClient::describe(c.error());
  c.disconnect();
  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["protocol_errors"], 0);
  EXPECT_EQ(s["counters"]["presented"], 0);
}

TEST(BaselineDeferredFeedback, SurfaceDestroyedWhileACommitWaitsDiscardsIt) {
  Scenario sc(60);
  RawClient c(sc.socket_path());
  deferred_commit(c);
  c.destroy_window();
  EXPECT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() == 1; }, 5s))
      << "the deferred commit's wp_presentation_feedback got neither presented nor discarded";
  EXPECT_EQ(c.discarded(), 1u);
  EXPECT_EQ(c.presented(), 0u);
  EXPECT_EQ(c.error().error, 0) << RawClient::describe(c.error());
  c.destroy_stream();
  ASSERT_TRUE(c.roundtrip());  // gone before its socket closes: no truncation to report
  c.disconnect();
  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["protocol_errors"], 0);
  EXPECT_EQ(s["counters"]["presented"], 0);
}

// Control: the same deferred commit, completed, is presented.
TEST(BaselineDeferredFeedback, DeferredCommitCompletedIsPresented) {
  Scenario sc(60);
  RawClient c(sc.socket_path());
  deferred_commit(c);
  c.write_bytes(kFrameBytes - 64 * 1024);
  EXPECT_TRUE(c.dispatch_until([&] { return c.presented() + c.discarded() == 1; }, 10s))
      << RawClient::describe(c.error());
  EXPECT_EQ(c.presented(), 1u);
  EXPECT_EQ(c.error().error, 0) << RawClient::describe(c.error());
  c.disconnect();
  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["protocol_errors"], 0);
  EXPECT_EQ(s["counters"]["commits"], 1);
  EXPECT_EQ(s["counters"]["presented"], 1);
}

}  // namespace
}  // namespace zcb
