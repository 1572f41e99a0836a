// Render fences on the way to the display (src/output/kms/fence.h), on the
// fake device: the atomic commit carries the buffer's sync_file as the
// plane's IN_FENCE_FD and asks for an OUT_FENCE_PTR; the legacy path waits
// for the fence in the event loop without blocking; a buffer whose planes
// are several objects exports one fence per object and merges them; the copy
// fallback waits for the fence in the loop before it reads the buffer; every
// descriptor is closed exactly once. The "sync_files" are pipes the tests control:
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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "buffer/sync_file.h"
#include "common/unique_fd.h"
#include "fake_drm.h"
#include "output/kms/commit.h"
#include "output/kms/device.h"
#include "output/kms/fence.h"
#include "output/kms/framebuffer.h"
#include "output/kms/kms_output.h"
#include "output_harness.h"
#include "stats/ledger_json.h"
#include "stats/trace.h"
#include "test_buffer.h"
#include "tiled_buffer.h"

namespace zc::test {
namespace {

using output::Presented;
using output::kms::CommitFences;

ino_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

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
  Exporter() = default;
  explicit Exporter(std::vector<TestFence*> fences) : next(std::move(fences)) {}
  std::vector<TestFence*> next;
  int calls = 0;
  bool enotty = false;
  std::vector<ino_t> asked;  // the object (inode) behind each dma-buf fd it was asked for
  buffer::SyncFileExporter fn() {
    return [this](int dmabuf_fd) -> Result<UniqueFd> {
      calls++;
      asked.push_back(inode_of(dmabuf_fd));
      if (enotty || next.empty()) return Error{ENOTTY, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE"};
      TestFence* f = next.front();
      next.erase(next.begin());
      return f->read_end.dup_cloexec();
    };
  }
};

// SYNC_IOC_MERGE's stand-in: records which two fences it was given and hands
// out a dup of `result` (the merged fence, which the test signals), or an
// error as a kernel out of memory would.
struct Merger {
  explicit Merger(TestFence* merged = nullptr) : result(merged) {}
  TestFence* result = nullptr;
  int calls = 0;
  std::vector<std::pair<ino_t, ino_t>> inputs;
  buffer::SyncFileMerger fn() {
    return [this](int a, int b) -> Result<UniqueFd> {
      calls++;
      inputs.emplace_back(inode_of(a), inode_of(b));
      if (result == nullptr) return Error{ENOMEM, "SYNC_IOC_MERGE"};
      return result->read_end.dup_cloexec();
    };
  }
};

// The shared harness (output_harness.h), with the test's exporter (and
// merger; without one, the kernel's ioctl, which pipes refuse).
struct FenceHarness : Harness {
  FenceHarness(bool atomic, Exporter& ex, Merger* merger = nullptr, std::function<void(FakeDrm&)> setup = {})
      : Harness(atomic, false, std::move(setup), [&ex, merger](output::KmsConfig& c) {
          c.export_fence = ex.fn();
          if (merger != nullptr) c.merge_fences = merger->fn();
        }) {}
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

// ------------------------------------------------------------ one fence per buffer object
// Intel-like CCS buffers (tiled_buffer.h): XRGB8888 in two planes, pixels
// and compression metadata, in one buffer object or in two.
std::shared_ptr<buffer::Buffer> ccs_buffer(bool separate_objects) { return tiled_buffer(kYTiledCcs, 2, separate_objects); }

TEST(KmsFenceObjects, TwoObjectsAreExportedOnceEachAndMergedIntoTheInFence) {
  const int fds_before = count_open_fds();
  {
    std::array<TestFence, 2> per_object;
    TestFence merged;
    Exporter ex{{&per_object[0], &per_object[1]}};
    Merger mg{&merged};
    FenceHarness h(/*atomic=*/true, ex, &mg, intel_plane);
    ASSERT_TRUE(h.out) << h.error;
    auto b = ccs_buffer(/*separate_objects=*/true);
    ASSERT_FALSE(b->desc().validate());
    const ino_t obj0 = inode_of(b->desc().planes[0].fd.get()), obj1 = inode_of(b->desc().planes[1].fd.get());
    ASSERT_NE(obj0, obj1);
    const int fds_at_present = count_open_fds();
    h.out->present(b, 1, true);
    EXPECT_EQ(ex.calls, 2) << "one export per object";
    EXPECT_EQ(ex.asked, (std::vector<ino_t>{obj0, obj1}));
    ASSERT_EQ(mg.calls, 1) << "two sync_files, one merge";
    EXPECT_EQ(mg.inputs[0], std::make_pair(per_object[0].object, per_object[1].object));
    ASSERT_EQ(h.fake->commits.size(), 1u) << "committed at once: the display waits";
    ASSERT_EQ(h.fake->in_fences.size(), 1u);
    EXPECT_EQ(h.fake->in_fences[0].object, merged.object) << "IN_FENCE_FD is the merged sync_file";
    // The two exports were closed as soon as they were merged: what is open
    // now is the merged sync_file (the frame's) and the out-fence (ours, and
    // the fake kernel's dup it signals at the flip). Leaked exports: +5.
    EXPECT_EQ(count_open_fds(), fds_at_present + 3) << "each intermediate sync_file closed once";
    merged.signal();
    h.flip(0, kLate);
    ASSERT_EQ(h.presented.count(1), 1u);
    EXPECT_TRUE(h.presented[1].direct);
    ASSERT_TRUE(h.presented[1].fence);
    EXPECT_TRUE(h.presented[1].fence->attached);
    EXPECT_EQ(h.counter("kms_fences_merged"), 1u);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

TEST(KmsFenceObjects, TwoPlanesOfOneObjectExportOnceAndMergeNothing) {
  const int fds_before = count_open_fds();
  {
    TestFence f;
    Exporter ex{{&f}};
    Merger mg;
    FenceHarness h(/*atomic=*/true, ex, &mg, intel_plane);
    ASSERT_TRUE(h.out) << h.error;
    h.out->present(ccs_buffer(/*separate_objects=*/false), 1, true);
    EXPECT_EQ(ex.calls, 1) << "the planes share one object, and its fences";
    EXPECT_EQ(mg.calls, 0);
    ASSERT_EQ(h.fake->in_fences.size(), 1u);
    EXPECT_EQ(h.fake->in_fences[0].object, f.object);
    f.signal();
    h.flip(0, kLate);
    EXPECT_EQ(h.counter("kms_fences_merged"), 0u);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

// The merge fails: no one sync_file for IN_FENCE_FD, so the loop waits for
// each object's fence in turn, and commits once both have signalled.
TEST(KmsFenceObjects, UnmergedFencesAreEachWaitedForInTheLoop) {
  const int fds_before = count_open_fds();
  {
    std::array<TestFence, 2> per_object;
    Exporter ex{{&per_object[0], &per_object[1]}};
    Merger mg;  // no result: ENOMEM
    FenceHarness h(/*atomic=*/true, ex, &mg, intel_plane);
    ASSERT_TRUE(h.out) << h.error;
    h.out->present(ccs_buffer(true), 1, true);
    EXPECT_EQ(mg.calls, 1);
    EXPECT_TRUE(h.fake->commits.empty()) << "neither fence signalled";
    per_object[1].signal();
    h.dispatch();
    EXPECT_TRUE(h.fake->commits.empty()) << "the first object is still being written";
    per_object[0].signal();
    h.dispatch();
    ASSERT_EQ(h.fake->commits.size(), 1u);
    EXPECT_TRUE(h.fake->in_fences.empty()) << "two sync_files cannot go into one IN_FENCE_FD";
    h.flip(0, kLate);
    ASSERT_TRUE(h.presented[1].fence);
    EXPECT_FALSE(h.presented[1].fence->attached);
    EXPECT_EQ(h.counter("kms_fences_waited"), 1u);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

// ------------------------------------------------------------ the copy waits in the loop
// The copy fallback reads the client's dma-buf with the CPU; it must not
// sleep in DMA_BUF_IOCTL_SYNC while the GPU writes it. (The buffers here are
// 32x24 on a 64x48 mode: size_mismatch, copied.)
TEST(KmsFenceCopy, AnUnsignalledFenceDefersTheCopyAndTheLoopStaysResponsive) {
  for (const bool atomic : {true, false}) {
    SCOPED_TRACE(atomic ? "atomic" : "legacy");
    const int fds_before = count_open_fds();
    {
      TestFence f;
      Exporter ex{{&f}};
      FenceHarness h(atomic, ex);
      auto b = make_buffer(32, 24, 7);
      h.out->present(b, 1, true);  // returns: nothing blocked
      EXPECT_EQ(ex.calls, 1);
      EXPECT_EQ(ex.asked, (std::vector<ino_t>{inode_of(b->desc().planes[0].fd.get())}));
      EXPECT_TRUE(h.copies.empty()) << "the GPU is not done: no copy yet";
      EXPECT_EQ(h.shown(), 0u);
      // The loop serves everything else meanwhile: a timer fires.
      int ticks = 0;
      wl_event_source* timer = wl_event_loop_add_timer(
          h.loop, [](void* d) { ++*static_cast<int*>(d); return 0; }, &ticks);
      wl_event_source_timer_update(timer, 1);
      for (int i = 0; i < 50 && ticks == 0; ++i) h.dispatch(10);
      EXPECT_EQ(ticks, 1) << "the event loop kept running while the copy waited";
      wl_event_source_remove(timer);
      EXPECT_TRUE(h.copies.empty());
      f.signal();
      h.dispatch();  // the fence is readable: the copy, then the commit
      ASSERT_EQ(h.copies.size(), 1u);
      EXPECT_EQ(h.copies[0].bytes, 32u * 24 * 4);
      EXPECT_EQ(h.shown(), 1u);
      h.dispatch();  // legacy: the modeset completes from an idle callback
      if (atomic) h.flip();
      ASSERT_EQ(h.presented.count(1), 1u);
      const auto& p = h.presented[1];
      EXPECT_FALSE(p.direct);
      EXPECT_FALSE(p.fence) << "our copy carries no render fence into the commit";
      EXPECT_TRUE(h.fake->in_fences.empty());
      ASSERT_TRUE(p.copy_fence);
      EXPECT_TRUE(p.copy_fence->waited);
      EXPECT_GT(p.copy_fence->wait_ns, 0u);
      EXPECT_EQ(h.counter("kms_copies_waited"), 1u);
      EXPECT_EQ(h.counter("kms_frames_copied"), 1u);
    }
    EXPECT_EQ(count_open_fds(), fds_before) << "the fence closed once, after the copy";
  }
}

TEST(KmsFenceCopy, ASignalledFenceCopiesAtOnce) {
  const int fds_before = count_open_fds();
  {
    TestFence f;
    f.signal();
    Exporter ex{{&f}};
    FenceHarness h(/*atomic=*/true, ex);
    h.out->present(make_buffer(32, 24, 1), 1, true);
    EXPECT_EQ(ex.calls, 1);
    ASSERT_EQ(h.copies.size(), 1u) << "copied inside present(), no detour through the loop";
    EXPECT_EQ(h.fake->commits.size(), 1u);
    h.flip();
    ASSERT_TRUE(h.presented[1].copy_fence);
    EXPECT_FALSE(h.presented[1].copy_fence->waited);
    EXPECT_EQ(h.presented[1].copy_fence->wait_ns, 0u);
    EXPECT_FALSE(h.presented[1].fence);
    EXPECT_EQ(h.counter("kms_copies_waited"), 0u);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

// Without the export ioctl the dma-buf itself is polled (a memfd is always
// readable): copied at once. Shared memory has no fences to ask for.
TEST(KmsFenceCopy, WithoutTheExportIoctlTheDmabufIsPolledAndShmIsNotAsked) {
  Exporter ex;
  ex.enotty = true;
  FenceHarness h(/*atomic=*/true, ex);
  h.out->present(make_buffer(32, 24, 1), 1, true);
  EXPECT_EQ(ex.calls, 1);
  EXPECT_EQ(h.copies.size(), 1u);
  h.flip();
  ASSERT_TRUE(h.presented[1].copy_fence);
  EXPECT_FALSE(h.presented[1].copy_fence->waited);
  h.out->present(make_buffer(64, 48, 2, buffer::Kind::shared_memory), 2, true);
  EXPECT_EQ(ex.calls, 1) << "a memfd posing as a dma-buf has no fences";
  EXPECT_EQ(h.copies.size(), 2u);
  h.flip();
  EXPECT_FALSE(h.presented[2].copy_fence);
}

// The client disconnects (its surface is withdrawn) while its copy waits:
// its frame is dropped with its fence and watch, nothing was copied or
// leased, and the next client's frame is shown as usual.
TEST(KmsFenceCopy, AClientThatLeavesWhileItsCopyWaitsLosesOnlyItsFrame) {
  const int fds_before = count_open_fds();
  {
    TestFence f;
    Exporter ex{{&f}};
    FenceHarness h(/*atomic=*/true, ex);
    h.out->present(make_buffer(32, 24, 1), 1, true);
    EXPECT_TRUE(h.copies.empty());
    h.out->withdraw(1);
    EXPECT_EQ(h.events, (std::vector<std::string>{"discarded 1"}));
    f.signal();
    h.dispatch();  // its watch went with it: nothing happens
    EXPECT_TRUE(h.copies.empty());
    EXPECT_EQ(h.shown(), 0u);
    EXPECT_EQ(h.counter("kms_fbs_live"), 0u) << "no copy target was leased for it";
    // Another client: ENOTTY now (the exporter is out of fences), polled, shown.
    h.out->present(make_buffer(64, 48, 2), 2, true);
    h.flip();
    EXPECT_EQ(h.presented.count(2), 1u);
    EXPECT_EQ(h.presented.count(1), 0u);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

// A direct frame the kernel refuses at commit time falls back to a copy; its
// fence (attached, so never waited for) may not have signalled: the copy
// waits in the loop too, with the fence it already has.
TEST(KmsFenceCopy, ACommitRefusalFallsBackToACopyThatWaitsInTheLoop) {
  const int fds_before = count_open_fds();
  {
    TestFence f;
    Exporter ex{{&f}};
    FenceHarness h(/*atomic=*/true, ex);
    h.fake->fail_commit_errno = EINVAL;
    h.out->present(make_buffer(64, 48, 1), 1, true);
    h.fake->fail_commit_errno = 0;
    EXPECT_TRUE(h.copies.empty()) << "refused, and the GPU is not done: the copy waits";
    EXPECT_TRUE(h.fake->commits.empty());
    f.signal();
    h.dispatch();
    ASSERT_EQ(h.copies.size(), 1u);
    ASSERT_EQ(h.fake->commits.size(), 1u);
    EXPECT_EQ(ex.calls, 1) << "the copy used the fence the direct attempt took";
    h.flip();
    ASSERT_EQ(h.presented.count(1), 1u);
    EXPECT_FALSE(h.presented[1].direct);
    EXPECT_TRUE(h.presented[1].reasons.has(output::ScanoutReason::commit_failed));
    ASSERT_TRUE(h.presented[1].copy_fence);
    EXPECT_TRUE(h.presented[1].copy_fence->waited);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

// ------------------------------------------------------------ FrameFence alone
// Without the export ioctl each object's dma-buf is polled (POLLIN once its
// writers are done), one after another: pipes stand in for two objects.
TEST(FrameFenceAlone, WithoutTheExportIoctlEachObjectsDmabufIsWaitedForInTurn) {
  const int fds_before = count_open_fds();
  {
    TestFence a, b;
    buffer::Dmabuf d;
    d.num_planes = 2;
    d.planes[0].fd = a.read_end.dup_cloexec();
    d.planes[1].fd = b.read_end.dup_cloexec();
    Exporter ex;
    ex.enotty = true;
    Merger mg;
    auto fence = output::kms::FrameFence::take(output::kms::FenceOps{ex.fn(), mg.fn()}, d, 1);
    ASSERT_TRUE(fence);
    EXPECT_FALSE(fence->is_sync_file()) << "dma-bufs to poll cannot go into IN_FENCE_FD";
    EXPECT_EQ(fence->objects(), 2u);
    EXPECT_EQ(mg.calls, 0);
    wl_event_loop* loop = wl_event_loop_create();
    struct Ctx {
      output::kms::FrameFence* f;
      int fired = 0;
    } ctx{&*fence};
    auto cb = [](int, uint32_t, void* data) {
      auto* c = static_cast<Ctx*>(data);
      c->fired++;
      c->f->readable();
      return 0;
    };
    EXPECT_FALSE(fence->wait_in_loop(loop, cb, &ctx, 2));
    b.signal();  // the second object is done, the first is still written
    wl_event_loop_dispatch(loop, 0);
    EXPECT_EQ(ctx.fired, 0) << "the loop watches the first object still pending";
    EXPECT_FALSE(fence->wait_in_loop(loop, cb, &ctx, 3));
    a.signal();
    wl_event_loop_dispatch(loop, 0);
    EXPECT_EQ(ctx.fired, 1);
    EXPECT_TRUE(fence->wait_in_loop(loop, cb, &ctx, 4)) << "both objects' writers are done";
    wl_event_loop_dispatch(loop, 0);
    EXPECT_EQ(ctx.fired, 1) << "no watch is left behind";
    // A fence dropped while it waits takes its watch with it.
    TestFence c;
    buffer::Dmabuf d2;
    d2.num_planes = 1;
    d2.planes[0].fd = c.read_end.dup_cloexec();
    std::optional<output::kms::FrameFence> waiting{
        output::kms::FrameFence::take(output::kms::FenceOps{ex.fn(), mg.fn()}, d2, 5).value()};
    ctx.f = &*waiting;
    EXPECT_FALSE(waiting->wait_in_loop(loop, cb, &ctx, 6));
    waiting.reset();
    c.signal();
    wl_event_loop_dispatch(loop, 0);
    EXPECT_EQ(ctx.fired, 1);
    wl_event_loop_destroy(loop);
  }
  EXPECT_EQ(count_open_fds(), fds_before);
}

// ------------------------------------------------------------ --explain
// zcpipe-demo --explain narrates a traced frame from these steps (ZC_TRACE):
// the merge of the objects' fences, and the copy waiting in the loop.
TEST(KmsFenceExplain, TheMergeAndTheCopysWaitInTheLoopAreNarrated) {
  std::array<TestFence, 3> fences;
  TestFence merged;
  Exporter ex{{&fences[0], &fences[1], &fences[2]}};
  Merger mg{&merged};
  FenceHarness h(/*atomic=*/true, ex, &mg, intel_plane);
  ASSERT_TRUE(h.out) << h.error;
  stats::trace_start();
  h.out->present(ccs_buffer(/*separate_objects=*/true), 1, true);
  merged.signal();
  h.flip(0, kLate);
  h.out->present(make_buffer(32, 24, 2), 2, true);  // copied, once fences[2] signals
  fences[2].signal();
  h.dispatch();
  stats::trace_stop();
  std::vector<std::string> steps;
  for (const auto& e : stats::trace_events_json())
    if (e.at("kind") == "step") steps.push_back(e.at("text").get<std::string>());
  auto said = [&steps](const std::string& what) {
    return std::any_of(steps.begin(), steps.end(), [&](const std::string& t) { return t.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(said("2 exports (DMA_BUF_IOCTL_EXPORT_SYNC_FILE) merged into one sync_file (SYNC_IOC_MERGE)"))
      << ::testing::PrintToString(steps);
  EXPECT_TRUE(said("the copy waits for the GPU in the event loop")) << ::testing::PrintToString(steps);
  EXPECT_TRUE(said("the copy runs now, and DMA_BUF_IOCTL_SYNC has nothing left to wait for"))
      << ::testing::PrintToString(steps);
  EXPECT_EQ(h.copies.size(), 1u);
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
