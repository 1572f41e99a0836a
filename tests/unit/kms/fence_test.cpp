// Render fences on the way to the display (src/output/kms/fence.h), on the
// fake device: the atomic commit carries the buffer's sync_file as the
// plane's IN_FENCE_FD and asks for an OUT_FENCE_PTR; the legacy path waits
// for the fence in the event loop without blocking; every descriptor is
// closed exactly once. The "sync_files" are pipes the tests control:
// readable = signalled, as poll() sees a real one.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "buffer/sync_file.h"
#include "common/unique_fd.h"
#include "fake_drm.h"
#include "output/kms/commit.h"
#include "output/kms/device.h"
#include "output/kms/framebuffer.h"
#include "output/kms/kms_output.h"
#include "output_harness.h"
#include "test_buffer.h"

namespace zc::test {
namespace {

using output::Presented;
using output::kms::CommitFences;

// A fence the test signals: the read end of a pipe is "the sync_file".
struct TestFence {
  TestFence() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    read_end = UniqueFd{p[0]};
    write_end = UniqueFd{p[1]};
    struct stat st {};
    ::fstat(read_end.get(), &st);
    object = st.st_ino;
  }
  void signal() { ASSERT_EQ(::write(write_end.get(), "x", 1), 1); }
  UniqueFd read_end, write_end;
  ino_t object = 0;
};

// Hands out, for each export, a dup of the next fence the test queued (as
// the kernel makes a new sync_file per export); or ENOTTY, as a kernel
// before 6.0 answers.
struct Exporter {
  std::vector<TestFence*> next;
  int calls = 0;
  bool enotty = false;
  buffer::SyncFileExporter fn() {
    return [this](int) -> Result<UniqueFd> {
      calls++;
      if (enotty || next.empty()) return Error{ENOTTY, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE"};
      TestFence* f = next.front();
      next.erase(next.begin());
      return f->read_end.dup_cloexec();
    };
  }
};

// The shared harness (output_harness.h), with the test's exporter.
struct FenceHarness : Harness {
  FenceHarness(bool atomic, Exporter& ex)
      : Harness(atomic, false, {}, [&ex](output::KmsConfig& c) { c.export_fence = ex.fn(); }) {}
  // Everything that reached the kernel: atomic commits, modesets, page flips.
  size_t shown() const { return fake->commits.size() + fake->set_crtcs.size() + fake->page_flips.size(); }
};

// Two frames, each with a fence of its own, not signalled yet.
struct TwoFencedFrames {
  explicit TwoFencedFrames(bool atomic) : ex{{&fences[0], &fences[1]}}, h(atomic, ex) {}
  std::array<TestFence, 2> fences;
  Exporter ex;
  FenceHarness h;
  std::shared_ptr<buffer::Buffer> b1 = make_buffer(64, 48, 1), b2 = make_buffer(64, 48, 2);
};

// A flip time well after any commit (the fake's events carry the time given).
constexpr uint64_t kLate = UINT64_MAX / 2;

// ------------------------------------------------------------ the committer
TEST(KmsFenceCommit, AtomicFlipCarriesInFenceAndReturnsAnOutFence) {
  auto drm = std::make_shared<FakeDrm>();
  auto buf = make_buffer(64, 48, 0);
  auto fb = output::kms::Framebuffer::import(drm, buf->desc(), false);
  ASSERT_TRUE(fb);
  const int fds_before = count_open_fds();
  {
    auto c = output::kms::make_atomic_committer(
        drm, output::kms::Target{FakeDrm::kConnector, FakeDrm::kCrtc, FakeDrm::kPrimary, drm->modes[0]});
    ASSERT_TRUE(c);
    EXPECT_TRUE((*c)->takes_in_fences());
    TestFence fence;
    CommitFences cf;
    cf.in_fence_fd = fence.read_end.get();
    cf.want_out_fence = true;
    ASSERT_TRUE((*c)->test(**fb, true));
    ASSERT_TRUE((*c)->page_flip(**fb, true, 1, &cf));
    EXPECT_FALSE(drm->test_commits[0].has(FakeDrm::kPrimary, FakeDrm::kInFenceFd)) << "no fences in TEST_ONLY";
    EXPECT_FALSE(drm->test_commits[0].has(FakeDrm::kCrtc, FakeDrm::kOutFencePtr));
    ASSERT_EQ(drm->commits.size(), 1u);
    EXPECT_EQ(drm->commits[0].value(FakeDrm::kPrimary, FakeDrm::kInFenceFd), uint64_t(fence.read_end.get()));
    EXPECT_TRUE(drm->commits[0].has(FakeDrm::kCrtc, FakeDrm::kOutFencePtr));
    ASSERT_EQ(drm->in_fences.size(), 1u);
    EXPECT_EQ(drm->in_fences[0].object, fence.object);
    EXPECT_TRUE(cf.in_fence_attached);
    ASSERT_TRUE(cf.out_fence) << "the kernel wrote a descriptor through OUT_FENCE_PTR";
    EXPECT_FALSE(buffer::fence_signalled(cf.out_fence.get())) << "not on screen yet";
    drm->complete_flips();
    EXPECT_TRUE(buffer::fence_signalled(cf.out_fence.get())) << "on screen: the out-fence signalled";
    drm->handle_events([](const output::kms::FlipEvent&) {});
  }
  EXPECT_EQ(count_open_fds(), fds_before) << "out-fence and test fences closed, once each";
}

TEST(KmsFenceCommit, WithoutThePropertiesNothingIsAttached) {
  auto drm = std::make_shared<FakeDrm>();
  drm->hidden_props = {"IN_FENCE_FD", "OUT_FENCE_PTR"};
  auto buf = make_buffer(64, 48, 0);
  auto fb = output::kms::Framebuffer::import(drm, buf->desc(), false);
  ASSERT_TRUE(fb);
  auto c = output::kms::make_atomic_committer(
      drm, output::kms::Target{FakeDrm::kConnector, FakeDrm::kCrtc, FakeDrm::kPrimary, drm->modes[0]});
  ASSERT_TRUE(c) << "optional properties: atomic still works";
  EXPECT_FALSE((*c)->takes_in_fences());
  TestFence fence;
  CommitFences cf;
  cf.in_fence_fd = fence.read_end.get();
  cf.want_out_fence = true;
  ASSERT_TRUE((*c)->page_flip(**fb, true, 1, &cf));
  EXPECT_FALSE(cf.in_fence_attached);
  EXPECT_FALSE(cf.out_fence);
  EXPECT_TRUE(drm->in_fences.empty());
}

TEST(KmsFenceCommit, LegacyTakesNoFences) {
  auto drm = std::make_shared<FakeDrm>();
  auto c = output::kms::make_legacy_committer(
      drm, output::kms::Target{FakeDrm::kConnector, FakeDrm::kCrtc, FakeDrm::kPrimary, drm->modes[0]});
  EXPECT_FALSE(c->takes_in_fences());
}

// ------------------------------------------------------------ the output
TEST(KmsFence, AtomicCommitsAtOnceWithTheFenceAttached) {
  const int fds_before = count_open_fds();
  {
    TwoFencedFrames t(/*atomic=*/true);
    auto& [f1, f2] = t.fences;
    auto& h = t.h;
    h.out->present(t.b1, 1, true);
    // Not signalled, yet committed: the display waits, not the compositor.
    ASSERT_EQ(h.fake->commits.size(), 1u);
    ASSERT_EQ(h.fake->in_fences.size(), 1u);
    EXPECT_EQ(h.fake->in_fences[0].object, f1.object) << "the exported sync_file went into IN_FENCE_FD";
    EXPECT_EQ(h.fake->out_fences_made, 1);
    f1.signal();
    h.flip(0, kLate);  // a flip time well after the commit
    ASSERT_EQ(h.presented.count(1), 1u);
    const auto& p = h.presented[1];
    ASSERT_TRUE(p.fence);
    EXPECT_TRUE(p.fence->attached);
    EXPECT_EQ(p.fence->wait_ns, 0u) << "nothing held back";
    EXPECT_GT(p.fence->flip_after_ns, 0u);
    EXPECT_LE(p.fence->signal_after_ns, p.fence->flip_after_ns) << "the display waited for the fence";
    EXPECT_TRUE(p.fence->out_fence) << "the out-fence signalled with the flip";
    // The second frame: a new export, a new fence.
    h.out->present(t.b2, 2, true);
    ASSERT_EQ(h.fake->in_fences.size(), 2u);
    EXPECT_EQ(h.fake->in_fences[1].object, f2.object);
    f2.signal();
    h.flip(0, kLate);
    EXPECT_EQ(t.ex.calls, 2);
    EXPECT_EQ(h.counter("kms_fences_attached"), 2u);
    EXPECT_EQ(h.counter("kms_fences_waited"), 0u);
    EXPECT_EQ(h.counter("kms_out_fences"), 2u);
  }
  EXPECT_EQ(count_open_fds(), fds_before) << "every sync_file and out-fence closed, once";
}

TEST(KmsFence, LegacyWaitsInTheLoopWithoutBlocking) {
  const int fds_before = count_open_fds();
  {
    TwoFencedFrames t(/*atomic=*/false);
    auto& [f1, f2] = t.fences;
    auto& h = t.h;
    h.out->present(t.b1, 1, true);  // returns: nothing blocked
    EXPECT_EQ(h.shown(), 0u) << "fence not signalled: the commit waits";
    h.dispatch();
    EXPECT_EQ(h.shown(), 0u) << "still not";
    f1.signal();
    h.dispatch();  // the loop sees the fence readable and commits
    ASSERT_EQ(h.fake->set_crtcs.size(), 1u) << "committed (the first frame: a modeset)";
    h.dispatch();  // the legacy modeset completes from an idle callback
    ASSERT_EQ(h.presented.count(1), 1u);
    ASSERT_TRUE(h.presented[1].fence);
    EXPECT_FALSE(h.presented[1].fence->attached);
    EXPECT_GT(h.presented[1].fence->wait_ns, 0u) << "held back until the fence signalled";
    EXPECT_EQ(h.presented[1].fence->signal_after_ns, 0u) << "signalled before the commit";
    EXPECT_FALSE(h.presented[1].fence->out_fence) << "legacy has no OUT_FENCE_PTR";
    // A page flip waits just the same.
    h.out->present(t.b2, 2, true);
    EXPECT_TRUE(h.fake->page_flips.empty());
    f2.signal();
    h.dispatch();
    ASSERT_EQ(h.fake->page_flips.size(), 1u);
    h.flip();
    EXPECT_EQ(h.presented.count(2), 1u);
    EXPECT_EQ(h.counter("kms_fences_waited"), 2u);
    EXPECT_EQ(h.counter("kms_fences_attached"), 0u);
    EXPECT_TRUE(h.fake->in_fences.empty());
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

TEST(KmsFence, AFrameReplacedWhileWaitingClosesItsFence) {
  const int fds_before = count_open_fds();
  {
    TwoFencedFrames t(/*atomic=*/false);
    auto& [slow, fast] = t.fences;
    auto& h = t.h;
    fast.signal();
    h.out->present(t.b1, 1, true);
    EXPECT_EQ(h.shown(), 0u);
    h.out->present(t.b2, 2, true);  // newer and ready: replaces the waiting one
    EXPECT_NE(std::find(h.events.begin(), h.events.end(), "discarded 1"), h.events.end());
    ASSERT_EQ(h.fake->set_crtcs.size(), 1u);
    slow.signal();
    h.dispatch();  // the dropped frame's watch is gone: nothing more happens
    EXPECT_EQ(h.fake->set_crtcs.size(), 1u);
    EXPECT_TRUE(h.fake->page_flips.empty());
    EXPECT_EQ(h.presented.count(2), 1u);
    EXPECT_EQ(h.presented.count(1), 0u);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

TEST(KmsFence, WithoutTheExportIoctlTheDmabufItselfIsPolled) {
  Exporter ex;
  ex.enotty = true;  // Linux < 6.0
  FenceHarness h(/*atomic=*/true, ex);
  auto b = make_buffer(64, 48, 1);
  h.out->present(b, 1, true);
  // A memfd polls readable (nothing writes it): committed at once, but
  // without IN_FENCE_FD — there is no sync_file to attach.
  ASSERT_EQ(h.fake->commits.size(), 1u);
  EXPECT_TRUE(h.fake->in_fences.empty());
  h.flip(0, kLate);
  ASSERT_TRUE(h.presented[1].fence);
  EXPECT_FALSE(h.presented[1].fence->attached);
  EXPECT_EQ(h.counter("kms_fences_waited"), 1u);
}

TEST(KmsFence, EbusyRetriesWithTheSameFenceAndARefusalClosesIt) {
  const int fds_before = count_open_fds();
  {
    TwoFencedFrames t(/*atomic=*/true);
    auto& h = t.h;
    h.fake->ebusy_next = 2;  // the CRTC is busy twice: the commit is retried from a timer
    h.out->present(t.b1, 1, true);
    EXPECT_TRUE(h.fake->commits.empty());
    for (int i = 0; i < 20 && h.fake->commits.empty(); ++i) h.dispatch(5);
    ASSERT_EQ(h.fake->commits.size(), 1u);
    ASSERT_EQ(h.fake->in_fences.size(), 1u);
    EXPECT_EQ(h.fake->in_fences[0].object, t.fences[0].object) << "the same sync_file, still open";
    h.flip(0, kLate);
    EXPECT_TRUE(h.presented.at(1).fence->attached);
    // The kernel refuses the next commit outright: the frame is copied, and
    // its fence is closed with the direct attempt (a copy carries none).
    h.fake->fail_commit_errno = EINVAL;
    h.out->present(t.b2, 2, true);
    h.fake->fail_commit_errno = 0;
    EXPECT_EQ(t.ex.calls, 2);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

TEST(KmsFence, CopiedFramesCarryNoFence) {
  Exporter ex;
  FenceHarness h(/*atomic=*/true, ex);
  h.out->present(make_buffer(32, 24, 1), 1, true);  // wrong size: copied
  h.flip();
  EXPECT_EQ(ex.calls, 0);
  EXPECT_FALSE(h.presented[1].fence);
}

// ------------------------------------------------------------ sync_file
TEST(SyncFile, ExportOnSomethingNotADmabufIsAnErrnoAndPollWorksOnAnyFd) {
  TestFence f;
  auto r = buffer::export_sync_file(f.read_end.get());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code == ENOTTY || r.error().code == EINVAL) << r.error().code;
  EXPECT_FALSE(buffer::fence_signalled(f.read_end.get()));
  f.signal();
  EXPECT_TRUE(buffer::fence_signalled(f.read_end.get()));
  EXPECT_FALSE(buffer::sync_file_signal_time(f.read_end.get())) << "a pipe is no sync_file";
}

}  // namespace
}  // namespace zc::test
