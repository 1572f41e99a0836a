// kms::Committer: the atomic and legacy implementations, each alone on the
// fake device. What each one sends the kernel for a test, a flip, a
// modeset and turning the display off.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include "fake_drm.h"
#include "test_buffer.h"
#include "output/kms/commit.h"
#include "output/kms/framebuffer.h"

namespace zc::test {
namespace {

using output::kms::Committer;
using output::kms::Completion;
using output::kms::Framebuffer;
using output::kms::Target;

struct Fixture {
  Fixture() {
    auto f = Framebuffer::import(drm, buffer->desc(), false);
    EXPECT_TRUE(f);
    fb = std::move(f.value());
  }
  Target target() const {
    return Target{FakeDrm::kConnector, FakeDrm::kCrtc, FakeDrm::kPrimary, fake.modes[0]};
  }
  std::shared_ptr<FakeDrm> drm = std::make_shared<FakeDrm>();
  FakeDrm& fake = *drm;
  std::shared_ptr<buffer::Buffer> buffer = make_buffer(64, 48, 0);
  std::shared_ptr<Framebuffer> fb;
};

// ------------------------------------------------------------ atomic
TEST(KmsAtomicCommit, TestOnlyAsksWithoutTouchingTheScreen) {
  Fixture f;
  auto c = output::kms::make_atomic_committer(f.drm, f.target());
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE((*c)->test(*f.fb, /*modeset=*/true));
  ASSERT_EQ(f.fake.test_commits.size(), 1u);
  const auto& t = f.fake.test_commits[0];
  EXPECT_EQ(t.flags, DRM_MODE_ATOMIC_TEST_ONLY | DRM_MODE_ATOMIC_ALLOW_MODESET);
  EXPECT_EQ(t.value(FakeDrm::kPrimary, FakeDrm::kFbId), f.fb->id());
  EXPECT_EQ(t.value(FakeDrm::kCrtc, FakeDrm::kCrtcActive), 1u);
  EXPECT_TRUE(t.has(FakeDrm::kCrtc, FakeDrm::kCrtcModeId));
  EXPECT_TRUE(f.fake.commits.empty());
  EXPECT_EQ(f.fake.plane_fb, 0u) << "nothing on screen";
  EXPECT_EQ((*c)->counters().tests, 1u);

  f.fake.reject_test_only = EINVAL;
  (*c)->forget_tests();  // else the first answer would stand (see below)
  auto r = (*c)->test(*f.fb, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ((*c)->counters().tests_rejected, 1u);
  EXPECT_EQ(f.fake.test_commits.size(), 2u);
}

TEST(KmsAtomicCommit, FlipIsNonblockingWithAnEventAndModesetOnlyWhenAsked) {
  Fixture f;
  auto c = output::kms::make_atomic_committer(f.drm, f.target());
  ASSERT_TRUE(c);
  auto first = (*c)->page_flip(*f.fb, true, 7);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(*first, Completion::event);
  ASSERT_EQ(f.fake.commits.size(), 1u);
  EXPECT_EQ(f.fake.commits[0].flags,
            DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_ATOMIC_ALLOW_MODESET);
  EXPECT_EQ(f.fake.commits[0].user_data, 7u);
  EXPECT_EQ(f.fake.plane_fb, f.fb->id());
  EXPECT_TRUE(f.fake.crtc_active);
  // One in flight: the next NONBLOCK commit is EBUSY, and says so.
  auto busy = (*c)->page_flip(*f.fb, false, 8);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, EBUSY);
  f.fake.complete_flips();
  uint64_t seen = 0;
  f.fake.handle_events([&](const output::kms::FlipEvent& e) { seen = e.user_data; });
  EXPECT_EQ(seen, 7u);
  ASSERT_TRUE((*c)->page_flip(*f.fb, false, 8));
  EXPECT_EQ(f.fake.commits[1].flags, uint32_t{DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT});
  EXPECT_FALSE(f.fake.commits[1].has(FakeDrm::kCrtc, FakeDrm::kCrtcModeId));
}

TEST(KmsAtomicCommit, BlockingModesetAndDisable) {
  Fixture f;
  auto c = output::kms::make_atomic_committer(f.drm, f.target());
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->modeset(*f.fb));
  EXPECT_EQ(f.fake.commits.back().flags, uint32_t{DRM_MODE_ATOMIC_ALLOW_MODESET}) << "blocking, no event";
  EXPECT_FALSE(f.fake.in_flight());
  ASSERT_TRUE((*c)->disable());
  const auto& off = f.fake.commits.back();
  EXPECT_EQ(off.value(FakeDrm::kPrimary, FakeDrm::kFbId), 0u);
  EXPECT_EQ(off.value(FakeDrm::kPrimary, FakeDrm::kPlaneCrtcId), 0u);
  EXPECT_EQ(off.value(FakeDrm::kCrtc, FakeDrm::kCrtcActive), 0u);
  EXPECT_EQ(off.value(FakeDrm::kConnector, FakeDrm::kConnCrtcId), 0u);
  EXPECT_FALSE(f.fake.crtc_active);
}

TEST(KmsAtomicCommit, MissingPropertyIsAnErrorAndTheModeBlobLivesWithTheCommitter) {
  {
    Fixture f;
    f.fake.hidden_props = {"SRC_W"};
    auto c = output::kms::make_atomic_committer(f.drm, f.target());
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message().find("SRC_W"), std::string::npos) << c.error().message();
    EXPECT_EQ(f.fake.blob_count(), 0u);
  }
  Fixture f;
  auto c = output::kms::make_atomic_committer(f.drm, f.target());
  ASSERT_TRUE(c);
  EXPECT_EQ(f.fake.blob_count(), 1u) << "the mode blob, made once";
  c.value().reset();
  EXPECT_EQ(f.fake.blob_count(), 0u) << "destroyed with the committer";
}

TEST(KmsAtomicCommit, TestOnlyAnswerStandsWhileNothingChanged) {
  Fixture f;
  auto c = output::kms::make_atomic_committer(f.drm, f.target());
  ASSERT_TRUE(c);
  auto other = Framebuffer::import(f.drm, make_buffer(64, 48, 1)->desc(), false);
  ASSERT_TRUE(other);
  ASSERT_TRUE((*c)->test(*f.fb, true));
  ASSERT_TRUE((*c)->test(**other, true)) << "another framebuffer, same layout";
  EXPECT_EQ(f.fake.test_commits.size(), 1u);
  EXPECT_EQ((*c)->counters().tests_skipped, 1u);
  ASSERT_TRUE((*c)->page_flip(*f.fb, true, 1));
  f.fake.complete_flips();
  f.fake.handle_events([](const output::kms::FlipEvent&) {});
  ASSERT_TRUE((*c)->test(*f.fb, false)) << "without the modeset: another state";
  EXPECT_EQ(f.fake.test_commits.size(), 2u);
  (*c)->forget_tests();  // the seat went away and came back
  ASSERT_TRUE((*c)->test(*f.fb, false));
  EXPECT_EQ(f.fake.test_commits.size(), 3u);
  EXPECT_EQ((*c)->counters().tests, 3u);
}

// The fake enforces the kernel's atomic rules (so the tests above mean
// something): each broken rule is EINVAL, TEST_ONLY included.
TEST(KmsFakeDrm, EnforcesTheKernelsAtomicRules) {
  Fixture f;
  using output::kms::AtomicProp;
  const uint32_t fb = f.fb->id();
  uint32_t blob = 0;
  ASSERT_EQ(f.fake.create_blob(&f.fake.modes[0], sizeof f.fake.modes[0], blob), 0);
  const std::vector<AtomicProp> modeset = {{FakeDrm::kConnector, FakeDrm::kConnCrtcId, FakeDrm::kCrtc},
                                           {FakeDrm::kCrtc, FakeDrm::kCrtcModeId, blob},
                                           {FakeDrm::kCrtc, FakeDrm::kCrtcActive, 1}};
  auto with = [](std::vector<AtomicProp> a, std::initializer_list<AtomicProp> b) {
    a.insert(a.end(), b);
    return a;
  };
  const AtomicProp plane_fb{FakeDrm::kPrimary, FakeDrm::kFbId, fb};
  const AtomicProp plane_crtc{FakeDrm::kPrimary, FakeDrm::kPlaneCrtcId, FakeDrm::kCrtc};
  // A mode change without ALLOW_MODESET.
  EXPECT_EQ(f.fake.atomic_commit(with(modeset, {plane_fb, plane_crtc}), DRM_MODE_ATOMIC_TEST_ONLY, 0), EINVAL);
  EXPECT_EQ(f.fake.atomic_commit(with(modeset, {plane_fb, plane_crtc}), 0, 0), EINVAL);
  // FB_ID without CRTC_ID, and the reverse.
  EXPECT_EQ(f.fake.atomic_commit(with(modeset, {plane_fb}), DRM_MODE_ATOMIC_ALLOW_MODESET, 0), EINVAL);
  EXPECT_EQ(f.fake.atomic_commit(with(modeset, {plane_crtc}), DRM_MODE_ATOMIC_ALLOW_MODESET, 0), EINVAL);
  // A plane on a CRTC that is off.
  EXPECT_EQ(f.fake.atomic_commit(std::vector<AtomicProp>{plane_fb, plane_crtc}, DRM_MODE_ATOMIC_ALLOW_MODESET, 0), EINVAL);
  // Active without a mode.
  EXPECT_EQ(f.fake.atomic_commit(std::vector<AtomicProp>{{FakeDrm::kCrtc, FakeDrm::kCrtcActive, 1}}, DRM_MODE_ATOMIC_ALLOW_MODESET, 0), EINVAL);
  // TEST_ONLY cannot ask for an event.
  EXPECT_EQ(f.fake.atomic_commit(with(modeset, {plane_fb, plane_crtc}),
                                 DRM_MODE_ATOMIC_TEST_ONLY | DRM_MODE_ATOMIC_ALLOW_MODESET | DRM_MODE_PAGE_FLIP_EVENT, 0),
            EINVAL);
  EXPECT_EQ(f.fake.rule_violations, 7);
  EXPECT_TRUE(f.fake.commits.empty());
  // The same modeset, done right, is taken; then a flip needs no ALLOW_MODESET.
  EXPECT_EQ(f.fake.atomic_commit(with(modeset, {plane_fb, plane_crtc}), DRM_MODE_ATOMIC_ALLOW_MODESET, 0), 0);
  EXPECT_EQ(f.fake.atomic_commit(std::vector<AtomicProp>{plane_fb, plane_crtc}, DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT, 1), 0);
  EXPECT_EQ(f.fake.rule_violations, 7);
}

// Every request the atomic committer builds passes those rules.
TEST(KmsAtomicCommit, EveryRequestKeepsTheRules) {
  Fixture f;
  auto c = output::kms::make_atomic_committer(f.drm, f.target());
  ASSERT_TRUE(c);
  EXPECT_TRUE((*c)->test(*f.fb, true));
  EXPECT_FALSE((*c)->test(*f.fb, false)) << "no modeset yet: the plane would sit on a CRTC that is off";
  ASSERT_TRUE((*c)->page_flip(*f.fb, true, 1));
  f.fake.complete_flips();
  f.fake.handle_events([](const output::kms::FlipEvent&) {});
  EXPECT_TRUE((*c)->test(*f.fb, false));
  ASSERT_TRUE((*c)->page_flip(*f.fb, false, 2));
  f.fake.complete_flips();
  f.fake.handle_events([](const output::kms::FlipEvent&) {});
  ASSERT_TRUE((*c)->modeset(*f.fb));
  ASSERT_TRUE((*c)->disable());
  EXPECT_EQ(f.fake.rule_violations, 1) << "only the deliberate one";
}

// ------------------------------------------------------------ legacy
TEST(KmsLegacyCommit, TestSimplySucceedsWithoutAnIoctl) {
  Fixture f;
  auto c = output::kms::make_legacy_committer(f.drm, f.target());
  f.fake.reject_test_only = EINVAL;
  EXPECT_TRUE(c->test(*f.fb, true));
  EXPECT_TRUE(c->test(*f.fb, false));
  EXPECT_TRUE(f.fake.test_commits.empty());
  EXPECT_TRUE(f.fake.set_crtcs.empty());
  EXPECT_EQ(c->counters().tests, 0u);
}

TEST(KmsLegacyCommit, ModesetIsSetCrtcThenPageFlips) {
  Fixture f;
  auto c = output::kms::make_legacy_committer(f.drm, f.target());
  auto first = c->page_flip(*f.fb, true, 1);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, Completion::done_now) << "SetCrtc blocks and sends no event";
  ASSERT_EQ(f.fake.set_crtcs.size(), 1u);
  EXPECT_EQ(f.fake.set_crtcs[0].fb, f.fb->id());
  EXPECT_TRUE(f.fake.set_crtcs[0].has_mode);
  EXPECT_EQ(f.fake.set_crtcs[0].connectors, std::vector<uint32_t>{FakeDrm::kConnector});
  auto next = c->page_flip(*f.fb, false, 2);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, Completion::event);
  ASSERT_EQ(f.fake.page_flips.size(), 1u);
  EXPECT_EQ(f.fake.page_flips[0].flags, uint32_t{DRM_MODE_PAGE_FLIP_EVENT});
  EXPECT_EQ(f.fake.page_flips[0].user_data, 2u);
  auto busy = c->page_flip(*f.fb, false, 3);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, EBUSY);
  EXPECT_TRUE(f.fake.commits.empty()) << "legacy never sends an atomic request";
}

TEST(KmsLegacyCommit, DisableTurnsTheCrtcOff) {
  Fixture f;
  auto c = output::kms::make_legacy_committer(f.drm, f.target());
  ASSERT_TRUE(c->modeset(*f.fb));
  EXPECT_TRUE(f.fake.crtc_active);
  ASSERT_TRUE(c->disable());
  EXPECT_EQ(f.fake.set_crtcs.back().fb, 0u);
  EXPECT_FALSE(f.fake.set_crtcs.back().has_mode);
  EXPECT_FALSE(f.fake.crtc_active);
}

}  // namespace
}  // namespace zc::test
