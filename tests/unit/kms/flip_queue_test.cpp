// kms::FlipQueue alone: the queued / in flight / on screen state machine,
// with plain numbers as frames.
#include "output/kms/flip_queue.h"

#include <gtest/gtest.h>

namespace zc::test {
namespace {

using Queue = output::kms::FlipQueue<int>;

TEST(KmsFlipQueue, NewerQueuedFrameReplacesTheOlderOne) {
  Queue q;
  EXPECT_FALSE(q.queue(1));
  auto replaced = q.queue(2);
  ASSERT_TRUE(replaced);
  EXPECT_EQ(*replaced, 1) << "the replaced frame is handed back, to be discarded";
  ASSERT_NE(q.queued(), nullptr);
  EXPECT_EQ(*q.queued(), 2);
}

TEST(KmsFlipQueue, OneCommitInFlight) {
  Queue q;
  EXPECT_FALSE(q.ready()) << "nothing to commit";
  q.queue(1);
  EXPECT_TRUE(q.ready());
  q.committed();
  EXPECT_EQ(q.queued(), nullptr);
  ASSERT_NE(q.in_flight(), nullptr);
  EXPECT_EQ(*q.in_flight(), 1);
  q.queue(2);
  EXPECT_FALSE(q.ready()) << "frame 2 waits for frame 1's flip";
  EXPECT_FALSE(q.idle());
  EXPECT_FALSE(q.flipped()) << "nothing was on screen before frame 1";
  EXPECT_EQ(*q.on_screen(), 1);
  EXPECT_TRUE(q.ready());
  q.committed();
  auto released = q.flipped();
  ASSERT_TRUE(released);
  EXPECT_EQ(*released, 1) << "frame 1 is given back only when frame 2's flip completed";
  EXPECT_EQ(*q.on_screen(), 2);
  EXPECT_TRUE(q.idle());
}

TEST(KmsFlipQueue, BusyKeepsTheFrameQueuedAndCountsInARow) {
  Queue q;
  q.queue(7);
  EXPECT_EQ(q.busy(), 1u);
  EXPECT_EQ(q.busy(), 2u);
  EXPECT_TRUE(q.ready()) << "still queued after EBUSY";
  q.committed();
  q.flipped();
  q.queue(8);
  EXPECT_EQ(q.busy(), 1u) << "a successful commit resets the count";
}

TEST(KmsFlipQueue, FailedCommitHandsTheFrameBack) {
  Queue q;
  q.queue(3);
  q.busy();
  auto gone = q.failed();
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 3);
  EXPECT_TRUE(q.idle());
  q.queue(4);
  EXPECT_EQ(q.busy(), 1u);
}

TEST(KmsFlipQueue, TakeCurrentEmptiesTheScreen) {
  Queue q;
  q.queue(5);
  q.committed();
  q.flipped();
  auto c = q.take_current();
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, 5);
  EXPECT_EQ(q.on_screen(), nullptr);
}

}  // namespace
}  // namespace zc::test
