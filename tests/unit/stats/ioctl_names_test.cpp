// stats/ioctl_names.h: an ioctl's request number and argument struct turned
// into words, as pure functions (no device); and, through the real
// interposer, that a traced ioctl reaches the trace with its meaning while an
// untraced one leaves nothing behind.
#include <drm.h>
#include <drm_fourcc.h>
#include <drm_mode.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/dma-buf.h>
#include <linux/sync_file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "stats/ioctl_names.h"
#include "stats/ledger_json.h"
#include "stats/trace.h"

namespace zc::stats {

// External linkage, so the tracer can name it as the ioctl's caller (a
// function in an anonymous namespace is not in the dynamic symbol table).
// The barrier keeps the call from becoming a tail jump (which leaves no frame).
[[gnu::noinline]] int traced_gem_close_for_test(int fd, drm_gem_close* c) {
  const int r = ::ioctl(fd, DRM_IOCTL_GEM_CLOSE, c);
  asm volatile("" ::: "memory");
  return r;
}

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(IoctlNames, PrimeImportNamesTheFdAndTheHandleTheDriverGave) {
  drm_prime_handle p{};
  p.fd = 17;
  p.handle = 5;  // filled in by the driver
  const IoctlText t = describe_ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE, &p, 0, 0);
  EXPECT_EQ(t.name, "DRM_IOCTL_PRIME_FD_TO_HANDLE");
  EXPECT_THAT(t.meaning, HasSubstr("dma-buf fd 17"));
  EXPECT_THAT(t.meaning, HasSubstr("GEM handle 5"));
}

TEST(IoctlNames, AddFb2NamesTheFramebufferItsHandleAndLayout) {
  drm_mode_fb_cmd2 f{};
  f.fb_id = 42;
  f.width = 3840;
  f.height = 2160;
  f.pixel_format = DRM_FORMAT_XRGB8888;
  f.handles[0] = 5;
  f.pitches[0] = 15360;
  const IoctlText t = describe_ioctl(DRM_IOCTL_MODE_ADDFB2, &f, 0, 0);
  EXPECT_EQ(t.name, "DRM_IOCTL_MODE_ADDFB2");
  EXPECT_THAT(t.meaning, HasSubstr("framebuffer 42"));
  EXPECT_THAT(t.meaning, HasSubstr("GEM handle 5"));
  EXPECT_THAT(t.meaning, HasSubstr("3840x2160 XRGB8888"));
  EXPECT_THAT(t.meaning, HasSubstr("pitch 15360"));
  EXPECT_THAT(t.meaning, HasSubstr("no modifier"));
  f.flags = DRM_MODE_FB_MODIFIERS;
  f.modifier[0] = DRM_FORMAT_MOD_LINEAR;
  EXPECT_THAT(describe_ioctl(DRM_IOCTL_MODE_ADDFB2, &f, 0, 0).meaning, HasSubstr("modifier 0x0"));
  // Failed: no framebuffer id, and why.
  const IoctlText bad = describe_ioctl(DRM_IOCTL_MODE_ADDFB2, &f, -1, EINVAL);
  EXPECT_THAT(bad.meaning, HasSubstr("framebuffer (none)"));
  EXPECT_THAT(bad.meaning, HasSubstr("failed: Invalid argument (22)"));
}

TEST(IoctlNames, GemCloseAndRmFbNameTheirObject) {
  drm_gem_close c{};
  c.handle = 9;
  EXPECT_EQ(describe_ioctl(DRM_IOCTL_GEM_CLOSE, &c, 0, 0).name, "DRM_IOCTL_GEM_CLOSE");
  EXPECT_THAT(describe_ioctl(DRM_IOCTL_GEM_CLOSE, &c, 0, 0).meaning, HasSubstr("GEM handle 9"));
  uint32_t fb = 42;
  EXPECT_EQ(describe_ioctl(DRM_IOCTL_MODE_RMFB, &fb, 0, 0).name, "DRM_IOCTL_MODE_RMFB");
  EXPECT_THAT(describe_ioctl(DRM_IOCTL_MODE_RMFB, &fb, 0, 0).meaning, HasSubstr("framebuffer 42"));
}

TEST(IoctlNames, AtomicFlagsAreDecoded) {
  EXPECT_EQ(atomic_flags(DRM_MODE_ATOMIC_TEST_ONLY, false), "TEST_ONLY");
  EXPECT_EQ(atomic_flags(DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT, false), "NONBLOCK | PAGE_FLIP_EVENT");
  EXPECT_EQ(atomic_flags(DRM_MODE_ATOMIC_ALLOW_MODESET, false), "ALLOW_MODESET");
  EXPECT_EQ(atomic_flags(0, false), "no flags: blocking");
  EXPECT_EQ(atomic_flags(0x80000000u, false), "0x80000000") << "an unknown bit is shown, not dropped";
  EXPECT_THAT(atomic_flags(DRM_MODE_ATOMIC_TEST_ONLY, true), HasSubstr("would accept"));
}

TEST(IoctlNames, AtomicCommitListsItsObjectsAndNamedProperties) {
  uint32_t objs[] = {31, 38};
  uint32_t counts[] = {3, 1};
  uint32_t props[] = {17, 18, 20, 22};
  uint64_t values[] = {42, 38, uint64_t{3840} << 16, 1};
  drm_mode_atomic a{};
  a.flags = DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT;
  a.count_objs = 2;
  a.objs_ptr = reinterpret_cast<uintptr_t>(objs);
  a.count_props_ptr = reinterpret_cast<uintptr_t>(counts);
  a.props_ptr = reinterpret_cast<uintptr_t>(props);
  a.prop_values_ptr = reinterpret_cast<uintptr_t>(values);
  const PropertyNamer names = [](uint32_t id) -> std::string {
    switch (id) {
      case 17: return "FB_ID";
      case 18: return "CRTC_ID";
      case 20: return "SRC_W";
      default: return "";
    }
  };
  const IoctlText t = describe_ioctl(DRM_IOCTL_MODE_ATOMIC, &a, 0, 0, names);
  EXPECT_EQ(t.name, "DRM_IOCTL_MODE_ATOMIC");
  EXPECT_THAT(t.meaning, HasSubstr("[NONBLOCK | PAGE_FLIP_EVENT]"));
  EXPECT_THAT(t.meaning, HasSubstr("flip event"));
  EXPECT_THAT(t.meaning, HasSubstr("object 31: FB_ID=42 CRTC_ID=38 SRC_W=3840"));  // 16.16 fixed point shown whole
  EXPECT_THAT(t.meaning, HasSubstr("object 38: prop 22=1")) << "an unnamed property keeps its id";

  a.flags = DRM_MODE_ATOMIC_TEST_ONLY;
  const IoctlText refused = describe_ioctl(DRM_IOCTL_MODE_ATOMIC, &a, -1, EINVAL, names);
  EXPECT_THAT(refused.meaning, HasSubstr("[TEST_ONLY]"));
  EXPECT_THAT(refused.meaning, HasSubstr("would the hardware accept"));
  EXPECT_THAT(refused.meaning, HasSubstr("refused"));
}

TEST(IoctlNames, AtomicWithoutArraysOrWithTooManyObjectsIsSafe) {
  drm_mode_atomic a{};
  a.count_objs = 3;  // pointers null
  EXPECT_THAT(describe_ioctl(DRM_IOCTL_MODE_ATOMIC, &a, 0, 0).meaning, Not(HasSubstr("object")));
  EXPECT_EQ(describe_ioctl(DRM_IOCTL_MODE_ATOMIC, nullptr, -1, EFAULT).name, "DRM_IOCTL_MODE_ATOMIC");
  uint32_t objs[20] = {}, counts[20] = {};
  uint32_t props[1] = {};
  uint64_t values[1] = {};
  a.count_objs = 20;
  a.objs_ptr = reinterpret_cast<uintptr_t>(objs);
  a.count_props_ptr = reinterpret_cast<uintptr_t>(counts);
  a.props_ptr = reinterpret_cast<uintptr_t>(props);
  a.prop_values_ptr = reinterpret_cast<uintptr_t>(values);
  EXPECT_THAT(describe_ioctl(DRM_IOCTL_MODE_ATOMIC, &a, 0, 0).meaning, HasSubstr("…")) << "bounded, and says so";
}

TEST(IoctlNames, LegacyPageFlipAndDmaBufSync) {
  drm_mode_crtc_page_flip f{};
  f.crtc_id = 38;
  f.fb_id = 42;
  f.flags = DRM_MODE_PAGE_FLIP_EVENT;
  const IoctlText t = describe_ioctl(DRM_IOCTL_MODE_PAGE_FLIP, &f, 0, 0);
  EXPECT_EQ(t.name, "DRM_IOCTL_MODE_PAGE_FLIP");
  EXPECT_THAT(t.meaning, HasSubstr("CRTC 38 to framebuffer 42"));
  EXPECT_THAT(t.meaning, HasSubstr("flip event"));
  dma_buf_sync s{DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE};
  EXPECT_EQ(describe_ioctl(DMA_BUF_IOCTL_SYNC, &s, 0, 0).name, "DMA_BUF_IOCTL_SYNC");
  EXPECT_THAT(describe_ioctl(DMA_BUF_IOCTL_SYNC, &s, 0, 0).meaning, HasSubstr("(WRITE) to the dma-buf's mapping begins"));
  s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
  EXPECT_THAT(describe_ioctl(DMA_BUF_IOCTL_SYNC, &s, 0, 0).meaning, HasSubstr("(READ|WRITE) to the dma-buf's mapping ends"));
}

#ifdef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
// EXPORT_SYNC_FILE(READ) returns what a reader must wait for: the pending
// writes (the renderer), not "read fences".
TEST(IoctlNames, ExportSyncFileSaysWhoseFencesItReturns) {
  dma_buf_export_sync_file e{DMA_BUF_SYNC_READ, 21};
  const IoctlText t = describe_ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &e, 0, 0);
  EXPECT_EQ(t.name, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE");
  EXPECT_THAT(t.meaning, HasSubstr("a reader must wait for (the buffer's pending writes"));
  EXPECT_THAT(t.meaning, HasSubstr("(fd 21)"));
  e.flags = DMA_BUF_SYNC_WRITE;
  EXPECT_THAT(describe_ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &e, 0, 0).meaning,
              HasSubstr("a writer must wait for (every pending read and write"));
}
#endif

// One sync_file per buffer object, merged for the plane's IN_FENCE_FD.
TEST(IoctlNames, SyncFileMergeNamesBothInputsAndTheResult) {
  sync_merge_data m{};
  m.fd2 = 12;
  m.fence = 13;
  const IoctlText t = describe_ioctl(SYNC_IOC_MERGE, &m, 0, 0);
  EXPECT_EQ(t.name, "SYNC_IOC_MERGE");
  EXPECT_THAT(t.meaning, HasSubstr("this sync_file and fd 12 merged into a new one that signals once both have (fd 13)"));
  EXPECT_EQ(describe_ioctl(SYNC_IOC_FILE_INFO, nullptr, 0, 0).name, "SYNC_IOC_FILE_INFO");
}

TEST(IoctlNames, UnknownRequestsKeepTheirNumber) {
  EXPECT_EQ(describe_ioctl(DRM_IOWR(0x41, struct drm_gem_close), nullptr, 0, 0).name, "DRM ioctl 0x41");
  EXPECT_THAT(describe_ioctl(DRM_IOWR(0x41, struct drm_gem_close), nullptr, 0, 0).meaning, HasSubstr("driver's own"));
  EXPECT_EQ(describe_ioctl(0x1234, nullptr, 0, 0).name, "ioctl 0x1234");
}

TEST(IoctlNames, DrmEventReadIsAFlipCompletion) {
  EXPECT_THAT(drm_event_read_meaning(32), HasSubstr("1 drm_event_vblank of 32 bytes"));
  EXPECT_THAT(drm_event_read_meaning(32), HasSubstr("page flip completed"));
  EXPECT_THAT(drm_event_read_meaning(64), HasSubstr("2 drm_event_vblank"));
}

// Through the real interposer (this test executable carries it, as the
// programs do): a traced ioctl on a non-DRM fd fails with ENOTTY, and the
// trace still says what was asked, with the arguments.
TEST(IoctlTrace, ATracedIoctlCarriesItsNameMeaningAndCaller) {
  const int fd = ::memfd_create("ioctl-trace-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  drm_gem_close c{};
  c.handle = 77;
  EXPECT_LT(::ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c), 0);  // not traced: tracing is off
  trace_start();
  const int r = traced_gem_close_for_test(fd, &c);
  const int err = errno;
  trace_stop();
  EXPECT_LT(r, 0);
  EXPECT_EQ(err, ENOTTY) << "the hook leaves errno as the real call set it";
  const nlohmann::json ev = trace_events_json();
  int ioctls = 0;
  for (const auto& e : ev) {
    if (e["kind"] != "ioctl") continue;
    ++ioctls;
    EXPECT_EQ(e["ioctl"], "DRM_IOCTL_GEM_CLOSE");
    EXPECT_EQ(e["fd"], fd);
    EXPECT_EQ(e["failed"], 1);
    EXPECT_THAT(e["text"].get<std::string>(), HasSubstr("GEM handle 77"));
    EXPECT_THAT(e["function"].get<std::string>(), HasSubstr("stats::traced_gem_close_for_test"));
  }
  EXPECT_EQ(ioctls, 1) << ev.dump();
  ::close(fd);
}

}  // namespace
}  // namespace zc::stats
