// The KMS output's logic, without hardware: a FakeDrm behind the kms::Drm
// seam stands in for the kernel, and a real wl_event_loop delivers its
// page-flip events.
#include <drm_fourcc.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "buffer/buffer.h"
#include "buffer/overwrite_marker.h"
#include "buffer/pattern.h"
#include "common/format.h"
#include "fake_drm.h"
#include "output_harness.h"
#include "test_buffer.h"
#include "output/kms/device.h"
#include "output/kms/dumb.h"
#include "output/kms/framebuffer.h"
#include "output/kms/kms_output.h"
#include "output/kms/properties.h"

namespace zc::test {
namespace {

using output::Presented;

using Names = std::vector<std::string>;
// The stable names of a presented frame's scanout reasons.
Names reasons(const Presented& p) {
  Names out;
  for (const char* n : p.reasons.names()) out.emplace_back(n);
  return out;
}

uint64_t checksum_of(buffer::Buffer& b) {
  auto px = b.map(false);
  return buffer::checksum({px->data(), b.width(), b.height(), b.stride(), b.format()});
}

// ------------------------------------------------------------------ modes
TEST(KmsMode, ParsesRequests) {
  auto a = output::kms::parse_mode_request("3840x2160");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->width, 3840u);
  EXPECT_EQ(a->height, 2160u);
  EXPECT_FALSE(a->hz);
  auto b = output::kms::parse_mode_request("1920x1080@59.94");
  ASSERT_TRUE(b);
  EXPECT_DOUBLE_EQ(*b->hz, 59.94);
  for (const char* bad : {"", "1920", "1920x", "x1080", "1920x1080@", "1920x1080@fast", "0x10", "1920x1080@60x"})
    EXPECT_FALSE(output::kms::parse_mode_request(bad)) << bad;
}

TEST(KmsMode, PicksPreferredOrRequested) {
  const std::vector<drmModeModeInfo> modes = {make_mode(3840, 2160, 75, true), make_mode(3840, 2160, 60, false),
                                              make_mode(1920, 1080, 60, false)};
  auto pref = output::kms::pick_mode(modes, "", "Virtual-1");
  ASSERT_TRUE(pref);
  EXPECT_EQ(output::kms::refresh_mhz(*pref), 75000u);
  auto sixty = output::kms::pick_mode(modes, "3840x2160@60", "Virtual-1");
  ASSERT_TRUE(sixty);
  EXPECT_EQ(output::kms::refresh_mhz(*sixty), 60000u);
  auto any = output::kms::pick_mode(modes, "3840x2160", "Virtual-1");
  ASSERT_TRUE(any);
  EXPECT_EQ(output::kms::refresh_mhz(*any), 75000u) << "the preferred one of that size";
  auto missing = output::kms::pick_mode(modes, "1280x720", "Virtual-1");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("mode 1280x720 is not offered by connector Virtual-1"), std::string::npos)
      << missing.error().message();
  EXPECT_NE(missing.error().message().find("3840x2160@75.00"), std::string::npos);
}

TEST(KmsOutput, NoConnectedConnectorIsOneClearError) {
  Harness h(true, false, [](FakeDrm& f) { f.connected = false; });
  EXPECT_FALSE(h.out);
  EXPECT_NE(h.error.find("no connected connector"), std::string::npos) << h.error;
}

TEST(KmsOutput, RequestedModeNotOffered) {
  auto loop = wl_event_loop_create();
  auto dev = std::shared_ptr<output::kms::Device>(
      output::kms::Device::adopt(std::make_unique<FakeDrm>(), "/dev/dri/fake0", 0, true));
  output::KmsConfig cfg;
  cfg.mode = "1280x720@60";
  auto o = output::create_kms(loop, dev, cfg);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message().find("is not offered"), std::string::npos) << o.error().message();
  dev.reset();
  wl_event_loop_destroy(loop);
}

TEST(KmsOutput, ReportsModeDeviceAndFormats) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  EXPECT_EQ(h.out->name(), "kms");
  EXPECT_EQ(h.out->mode().width, 64u);
  EXPECT_EQ(h.out->mode().height, 48u);
  EXPECT_EQ(h.out->mode().refresh_mhz, 75000u);
  ASSERT_TRUE(h.out->device());
  EXPECT_EQ(*h.out->device(), makedev(226, 0));
  // No IN_FORMATS: the plane's formats, linear or implicit.
  const auto f = h.out->scanout_formats();
  const std::vector<std::pair<uint32_t, uint64_t>> want = {{DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR},
                                                           {DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_INVALID}};
  EXPECT_EQ(f, want);
}

TEST(KmsOutput, ScanoutFormatsComeFromInFormats) {
  const uint64_t tiled = I915_FORMAT_MOD_X_TILED;
  Harness h(true, false, [&](FakeDrm& f) {
    f.plane_formats = {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888};
    f.in_formats_blob = in_formats_blob({DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888},
                                        {{DRM_FORMAT_MOD_LINEAR, 0b11}, {tiled, 0b01}});
  });
  ASSERT_TRUE(h.out) << h.error;
  const auto f = h.out->scanout_formats();
  auto has = [&f](uint32_t fmt, uint64_t mod) {
    return std::find(f.begin(), f.end(), std::pair<uint32_t, uint64_t>(fmt, mod)) != f.end();
  };
  EXPECT_TRUE(has(DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR));
  EXPECT_TRUE(has(DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_LINEAR));
  EXPECT_TRUE(has(DRM_FORMAT_XRGB8888, tiled));
  EXPECT_FALSE(has(DRM_FORMAT_ARGB8888, tiled));
  EXPECT_TRUE(has(DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_INVALID));
  // A truncated blob yields nothing rather than reading past its end.
  auto blob = in_formats_blob({DRM_FORMAT_XRGB8888}, {{DRM_FORMAT_MOD_LINEAR, 1}});
  blob.resize(blob.size() - 4);
  EXPECT_TRUE(output::kms::parse_in_formats(blob).empty());
}

// ------------------------------------------------------- atomic requests
TEST(KmsOutput, FirstFrameIsATestedModesetThenNonblockingFlips) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1);
  h.out->present(a, 1, true);
  ASSERT_EQ(h.fake->test_commits.size(), 1u);
  ASSERT_EQ(h.fake->commits.size(), 1u);
  const auto& t = h.fake->test_commits[0];
  const auto& c = h.fake->commits[0];
  EXPECT_EQ(t.flags, DRM_MODE_ATOMIC_TEST_ONLY | DRM_MODE_ATOMIC_ALLOW_MODESET);
  EXPECT_EQ(c.flags, DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_ATOMIC_ALLOW_MODESET);
  // The commit is exactly what was tested, plus its fences (a TEST_ONLY asks
  // about the buffer, not about when it is ready: fence_test.cpp).
  auto without_fences = c.props;
  std::erase_if(without_fences, [](const output::kms::AtomicProp& p) {
    return p.property == FakeDrm::kInFenceFd || p.property == FakeDrm::kOutFencePtr;
  });
  EXPECT_EQ(t.props, without_fences) << "the commit is exactly what was tested";
  EXPECT_EQ(c.value(FakeDrm::kConnector, FakeDrm::kConnCrtcId), FakeDrm::kCrtc);
  EXPECT_EQ(c.value(FakeDrm::kCrtc, FakeDrm::kCrtcActive), 1u);
  EXPECT_NE(c.value(FakeDrm::kCrtc, FakeDrm::kCrtcModeId), UINT64_MAX);
  EXPECT_EQ(c.value(FakeDrm::kPrimary, FakeDrm::kPlaneCrtcId), FakeDrm::kCrtc);
  EXPECT_EQ(c.value(FakeDrm::kPrimary, FakeDrm::kSrcW), uint64_t{64} << 16) << "SRC_* is 16.16 fixed point";
  EXPECT_EQ(c.value(FakeDrm::kPrimary, FakeDrm::kSrcH), uint64_t{48} << 16);
  EXPECT_EQ(c.value(FakeDrm::kPrimary, FakeDrm::kCrtcW), 64u);
  EXPECT_EQ(c.value(FakeDrm::kPrimary, FakeDrm::kCrtcH), 48u);
  const uint64_t fb = c.value(FakeDrm::kPrimary, FakeDrm::kFbId);
  ASSERT_EQ(h.fake->fbs.count(static_cast<uint32_t>(fb)), 1u);
  EXPECT_EQ(h.fake->addfb_plain, 1) << "ADDFB2_MODIFIERS = 0: plain AddFB2";
  EXPECT_EQ(h.fake->addfb_with_modifiers, 0);

  h.flip();
  ASSERT_EQ(h.presented.count(1), 1u);
  const Presented& p = h.presented[1];
  EXPECT_TRUE(p.zero_copy);
  EXPECT_TRUE(p.direct);
  EXPECT_TRUE(p.reasons.empty());
  EXPECT_TRUE(p.hw_completion);
  EXPECT_EQ(p.time_ns, 1'000'000'000ull);
  EXPECT_EQ(h.vblanks, 1);
  EXPECT_TRUE(h.copies.empty());

  auto b = make_buffer(64, 48, 2);
  h.out->present(b, 2, true);
  ASSERT_EQ(h.fake->commits.size(), 2u);
  const auto& c2 = h.fake->commits[1];
  EXPECT_EQ(c2.flags, DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT) << "no modeset after the first";
  EXPECT_FALSE(c2.has(FakeDrm::kCrtc, FakeDrm::kCrtcModeId));
  EXPECT_FALSE(c2.has(FakeDrm::kConnector, FakeDrm::kConnCrtcId));
}

// TEST_ONLY is asked once per plane state, not once per frame: a client's
// ring of same-layout buffers is tested once (after the modeset), and again
// only when the layout changes or the last answer stopped holding.
TEST(KmsOutput, TestOnlyIsSkippedWhileThePlaneStateIsUnchanged) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  std::vector<std::shared_ptr<buffer::Buffer>> ring = {make_buffer(64, 48, 1), make_buffer(64, 48, 2),
                                                       make_buffer(64, 48, 3)};
  uint64_t tag = 0;
  for (int round = 0; round < 3; ++round)
    for (const auto& b : ring) {
      h.out->present(b, ++tag, true);
      h.flip();
    }
  EXPECT_EQ(h.counter("kms_frames_direct"), 9u);
  EXPECT_EQ(h.fake->test_commits.size(), 2u) << "the first (with the modeset) and the second (without)";
  EXPECT_EQ(h.counter("kms_test_only"), 2u);
  EXPECT_EQ(h.counter("kms_test_only_skipped"), 7u);

  // Another pitch is another plane state: asked again. Refused: copied, and
  // the refusal is not remembered as an answer for the old layout either.
  auto wide = make_buffer(64, 48, 4);
  ASSERT_EQ(::ftruncate(wide->desc().planes[0].fd.get(), 512 * 48), 0);
  auto padded = describe_again(*wide, DRM_FORMAT_XRGB8888, 512, false);
  h.fake->reject_test_only = EINVAL;
  h.out->present(padded, ++tag, true);
  h.flip();
  EXPECT_EQ(reasons(h.presented.at(tag)), (Names{"test_only_failed"}));
  EXPECT_EQ(h.counter("kms_test_only"), 3u);
  h.fake->reject_test_only = 0;
  h.out->present(ring[0], ++tag, true);
  h.flip();
  EXPECT_TRUE(h.presented.at(tag).direct);
  EXPECT_EQ(h.counter("kms_test_only"), 4u) << "after a refusal the old layout is asked about again";
  h.out->present(ring[1], ++tag, true);
  h.flip();
  EXPECT_EQ(h.counter("kms_test_only"), 4u);
  EXPECT_EQ(h.counter("kms_test_only_skipped"), 8u);
}

TEST(KmsOutput, WithoutVblankSequenceAndRefreshAreZero) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.flip(/*seq=*/77);
  const Presented& p = h.presented.at(1);
  EXPECT_EQ(p.seq, 0u);
  EXPECT_EQ(p.refresh_ns, 0u);
  EXPECT_FALSE(p.vsync);
  EXPECT_FALSE(p.hw_clock);
  EXPECT_TRUE(p.hw_completion);
}

TEST(KmsOutput, WithVblankTheFlipCarriesSequenceAndRefresh) {
  Harness h(true, false, [](FakeDrm& f) { f.vblank = true; });
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.flip(/*seq=*/77);
  const Presented& p = h.presented.at(1);
  EXPECT_EQ(p.seq, 77u);
  EXPECT_EQ(p.refresh_ns, 13'333'333u);  // 75 Hz
  EXPECT_TRUE(p.vsync);
  EXPECT_TRUE(p.hw_clock);
}

// --------------------------------------------- pacing and release order
TEST(KmsOutput, OneCommitInFlightNewestQueuedFrameWins) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1), b = make_buffer(64, 48, 2), c = make_buffer(64, 48, 3);
  h.out->present(a, 1, true);
  h.out->present(b, 2, true);  // A is in flight: B waits
  EXPECT_EQ(h.fake->commits.size(), 1u);
  h.out->present(c, 3, true);  // replaces B, which never reaches the screen
  EXPECT_EQ(h.fake->commits.size(), 1u);
  EXPECT_EQ(h.events, (std::vector<std::string>{"discarded 2"}));
  h.flip();  // A on screen; C committed from the flip handler
  EXPECT_EQ(h.fake->commits.size(), 2u);
  h.flip();  // C on screen: only now is A free
  EXPECT_EQ(h.events, (std::vector<std::string>{"discarded 2", "presented 1", "released 1", "presented 3"}));
  EXPECT_EQ(h.fake->overlapping_commits, 0);
}

TEST(KmsOutput, ReleaseOnlyAfterTheReplacingFlipCompleted) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1), b = make_buffer(64, 48, 2);
  h.out->present(a, 1, true);
  h.flip();
  h.out->present(b, 2, true);  // committed, not yet on screen
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1"})) << "A is still being scanned out";
  h.flip();
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1", "released 1", "presented 2"}));
}

TEST(KmsOutput, EbusyIsRetriedNotLost) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.fake->ebusy_next = 2;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  EXPECT_EQ(h.fake->commits.size(), 0u);
  for (int i = 0; i < 50 && h.fake->commits.empty(); ++i) h.dispatch(5);  // the retry timer
  ASSERT_EQ(h.fake->commits.size(), 1u);
  h.flip();
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1"}));
  EXPECT_EQ(h.counter("kms_ebusy"), 2u);
}

// ------------------------------------------------- fallback to a copy
TEST(KmsOutput, TestOnlyRejectionFallsBackToACopyWithItsReason) {
  Harness h(true, /*verify=*/true);
  ASSERT_TRUE(h.out) << h.error;
  h.fake->reject_test_only = EINVAL;
  auto a = make_buffer(64, 48, 5);
  h.out->present(a, 1, true);
  ASSERT_EQ(h.copies.size(), 1u);
  EXPECT_EQ(h.copies[0].tag, 1u);
  EXPECT_EQ(h.copies[0].bytes, 64u * 48u * 4u);
  EXPECT_EQ(h.copies[0].where, "memcpy: client buffer -> dumb buffer (scanout fallback)");
  // What is committed is a dumb buffer, not the client's.
  ASSERT_EQ(h.fake->commits.size(), 1u);
  h.flip();
  const Presented& p = h.presented.at(1);
  EXPECT_FALSE(p.zero_copy);
  EXPECT_FALSE(p.direct);
  EXPECT_EQ(reasons(p), (Names{"test_only_failed"}));
  // --verify reads what the display shows: the copy, identical to the client's frame.
  ASSERT_TRUE(p.checksum);
  EXPECT_EQ(*p.checksum, checksum_of(*a));
  ASSERT_TRUE(p.decoded_frame);
  EXPECT_EQ(*p.decoded_frame, 5u);
  EXPECT_EQ(h.counter("kms_test_only_rejected"), 1u);
}

// --verify's last look as a frame leaves the screen: the overwrite
// experiment's witness on KMS. After frame 7 was shown, the "client" writes
// its marker into frame 7's own buffer; when frame 8's flip replaces it, the
// display's last look finds the marker only if the plane read the client's
// buffer (direct scanout), never when it read a copy.
TEST(KmsOutput, LastLookSeesTheClientsMarkerOnlyInADirectlyScannedOutBuffer) {
  for (const bool copied : {false, true}) {
    SCOPED_TRACE(copied ? "copied (TEST_ONLY refused)" : "direct");
    Harness h(true, /*verify=*/true);
    ASSERT_TRUE(h.out) << h.error;
    if (copied) h.fake->reject_test_only = EINVAL;
    auto a = make_buffer(64, 48, 7), b = make_buffer(64, 48, 8);
    h.out->present(a, 1, true);
    h.flip();
    ASSERT_EQ(h.presented.at(1).direct, !copied);
    auto px = a->map(true);
    ASSERT_TRUE(px) << px.error().message();
    ASSERT_TRUE(buffer::write_marker({px->data(), a->width(), a->height(), a->stride(), a->format()}, 7));
    h.out->present(b, 2, true);
    h.flip();
    EXPECT_EQ(h.counter("overwrite_proof_frames"), 1u);
    EXPECT_EQ(h.counter("overwrite_proof_marker_seen_frames"), copied ? 0u : 1u);
    // Writing into a buffer on screen is what a display CRC would see as
    // a rewrite; the copy on screen was left alone.
    EXPECT_EQ(h.counter("shown_buffer_rewritten"), copied ? 0u : 1u);
  }
}

TEST(KmsOutput, SharedMemoryIsNotImportedButCopied) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1, buffer::Kind::shared_memory), 1, true);
  EXPECT_EQ(h.fake->prime_imports, h.fake->dumbs_created)
      << "a memfd is not a dma-buf: only the dumb buffer it is copied into is imported";
  h.flip();
  EXPECT_FALSE(h.presented.at(1).direct);
  EXPECT_EQ(reasons(h.presented.at(1)), (Names{"not_dmabuf"}));
}

// What linux-dmabuf may accept: the plane's pairs as they are, plus LINEAR
// buffers of the formats the copy converts. The plane's own format is not
// offered LINEAR on top of its modifiers (a client could pick a layout the
// plane refuses and lose direct scanout).
TEST(KmsOutput, ImportableFormatsAreThePlanesPlusWhatTheCopyConverts) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  const auto scanout = h.out->scanout_formats();
  const auto importable = h.out->importable_formats();
  for (const auto& p : scanout)
    EXPECT_NE(std::find(importable.begin(), importable.end(), p), importable.end()) << format_name(p.first);
  for (uint32_t f : {DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888, DRM_FORMAT_ABGR8888, DRM_FORMAT_RGB888}) {
    EXPECT_NE(std::find(importable.begin(), importable.end(), std::pair<uint32_t, uint64_t>(f, DRM_FORMAT_MOD_LINEAR)),
              importable.end())
        << format_name(f);
    EXPECT_EQ(std::find_if(scanout.begin(), scanout.end(), [f](const auto& p) { return p.first == f; }),
              scanout.end())
        << format_name(f) << " is not the plane's";
  }
  size_t xrgb = 0;
  for (const auto& [f, m] : importable) xrgb += f == DRM_FORMAT_XRGB8888;
  size_t xrgb_plane = 0;
  for (const auto& [f, m] : scanout) xrgb_plane += f == DRM_FORMAT_XRGB8888;
  EXPECT_EQ(xrgb, xrgb_plane) << "XRGB8888 keeps exactly the plane's modifiers";
  // The fake device has no ADDFB2_MODIFIERS: implicit layouts are linear,
  // so each converted format comes as INVALID too.
  for (uint32_t f : {DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888, DRM_FORMAT_ABGR8888, DRM_FORMAT_RGB888})
    EXPECT_NE(std::find(importable.begin(), importable.end(), std::pair<uint32_t, uint64_t>(f, DRM_FORMAT_MOD_INVALID)),
              importable.end())
        << format_name(f);
  EXPECT_EQ(importable.size(), scanout.size() + 8);
}

TEST(KmsOutput, WithModifierSupportConvertedFormatsAreLinearOnly) {
  Harness h(true, false, [](FakeDrm& d) { d.addfb2_modifiers = 1; });
  ASSERT_TRUE(h.out) << h.error;
  size_t converted = 0;
  for (const auto& [f, m] : h.out->importable_formats()) {
    if (f == DRM_FORMAT_XRGB8888) continue;
    converted++;
    EXPECT_EQ(m, DRM_FORMAT_MOD_LINEAR) << format_name(f);
  }
  EXPECT_EQ(converted, 4u);
}

TEST(KmsOutput, WrongSizeAndFormatAreCopiedWithReasons) {
  Harness h(true, true);
  ASSERT_TRUE(h.out) << h.error;
  auto small = make_buffer(32, 24, 9);
  h.out->present(small, 1, true);
  h.flip();
  EXPECT_EQ(reasons(h.presented.at(1)), (Names{"size_mismatch"}));
  EXPECT_EQ(h.copies.at(0).bytes, 32u * 24u * 4u);

  auto bgr = make_buffer(64, 48, 10, buffer::Kind::dmabuf, DRM_FORMAT_XBGR8888);
  h.out->present(bgr, 2, true);
  h.flip();
  const Presented& p = h.presented.at(2);
  EXPECT_EQ(reasons(p), (Names{"format_not_on_plane"}));
  EXPECT_NE(h.copies.at(1).where.find("convert:"), std::string::npos);
  ASSERT_TRUE(p.decoded_frame);
  EXPECT_EQ(*p.decoded_frame, 10u) << "the converted frame still shows the right number";
}

// A bottom-up buffer (linux-dmabuf Y_INVERT, as OpenGL renders): the plane
// would show it upside down, so it is copied with its rows reversed.
TEST(KmsOutput, YInvertedBufferIsCopiedRightWayUp) {
  Harness h(true, /*verify=*/true);
  ASSERT_TRUE(h.out) << h.error;
  auto upright = make_buffer(64, 48, 12);
  auto flipped = make_buffer(64, 48, 0);
  {
    auto src = upright->map(false);
    auto dst = flipped->map(true);
    for (uint32_t y = 0; y < 48; ++y)
      std::memcpy(dst->data() + size_t{y} * flipped->stride(), src->data() + size_t{47 - y} * upright->stride(), 64 * 4);
  }
  auto client = describe_again(*flipped, DRM_FORMAT_XRGB8888, flipped->stride(), /*y_invert=*/true);

  h.out->present(client, 1, true);
  h.flip();
  const Presented& p = h.presented.at(1);
  EXPECT_FALSE(p.direct);
  EXPECT_EQ(reasons(p), (Names{"y_invert"}));
  EXPECT_EQ(h.fake->prime_imports, h.fake->dumbs_created) << "the client buffer itself is never put on the plane";
  ASSERT_TRUE(p.checksum);
  EXPECT_EQ(*p.checksum, checksum_of(*upright)) << "the screen shows the image right way up";
  ASSERT_TRUE(p.decoded_frame);
  EXPECT_EQ(*p.decoded_frame, 12u);
}

// A small window copied into a dumb buffer that last held a full-screen
// frame: the rest of the screen is black, and only what was drawn before is
// cleared (not the whole buffer every frame).
TEST(KmsOutput, SmallFrameAfterALargeOneLeavesTheRestBlack) {
  Harness h(true, /*verify=*/true);
  ASSERT_TRUE(h.out) << h.error;
  auto big = make_buffer(64, 48, 3, buffer::Kind::shared_memory);
  auto small = make_buffer(32, 24, 4, buffer::Kind::shared_memory);
  h.out->present(big, 1, true);  // dumb buffer 0
  h.flip();
  h.out->present(small, 2, true);  // dumb buffer 1 (0 is on screen)
  h.flip();
  h.out->present(small, 3, true);  // dumb buffer 0 again: it held `big`
  h.flip();
  ASSERT_EQ(h.fake->dumbs_created, 2);
  EXPECT_EQ(h.copies.at(2).bytes, 32u * 24u * 4u) << "the ledger counts the frame's bytes, not the clearing";

  auto expected = make_buffer(64, 48, 0);
  {
    auto e = expected->map(true);
    auto s = small->map(false);
    std::memset(e->data(), 0, size_t{expected->stride()} * 48);
    for (uint32_t y = 0; y < 24; ++y)
      std::memcpy(e->data() + size_t{y} * expected->stride(), s->data() + size_t{y} * small->stride(), 32 * 4);
  }
  for (uint64_t tag : {2u, 3u}) {
    const Presented& p = h.presented.at(tag);
    ASSERT_TRUE(p.checksum);
    EXPECT_EQ(*p.checksum, checksum_of(*expected)) << "tag " << tag << ": small frame top-left, the rest black";
  }
}

// Every blocker is named, not only the first: an ARGB8888 buffer that
// OpenGL rendered bottom-up, smaller than the mode, has three.
TEST(KmsOutput, EveryBlockerIsNamed) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto b = make_buffer(32, 24, 1, buffer::Kind::dmabuf, DRM_FORMAT_ARGB8888);
  h.out->present(describe_again(*b, DRM_FORMAT_ARGB8888, b->stride(), /*y_invert=*/true), 1, true);
  h.flip();
  const Presented& p = h.presented.at(1);
  EXPECT_FALSE(p.direct);
  EXPECT_EQ(reasons(p), (Names{"format_not_on_plane", "y_invert", "size_mismatch"}));
  EXPECT_TRUE(h.fake->test_commits.size() <= 1u) << "statically blocked: no TEST_ONLY for the client's buffer";
}

// A tiled buffer the plane will not take cannot be copied either: the CPU
// would read Intel's 512x8-byte X tiles as rows and show them scrambled.
// Refused with its reasons (typed), discarded and counted; nothing copied,
// no scanout buffer leased.
TEST(KmsOutput, TiledBufferThePlaneRefusesIsRefusedNotCopiedAsLinear) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1, buffer::Kind::dmabuf, DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_X_TILED), 1, true);
  h.flip();
  EXPECT_EQ(h.events, (Names{"discarded 1"}));
  EXPECT_TRUE(h.copies.empty()) << "a tiled buffer was read as if it were linear";
  EXPECT_EQ(h.counter("kms_frames_refused"), 1u);
  EXPECT_EQ(h.counter("kms_frames_discarded"), 1u);
  EXPECT_EQ(h.counter("kms_frames_copied"), 0u);
  EXPECT_TRUE(h.fake->commits.empty()) << "nothing to show: nothing committed";
  auto planner = h.out->scanout_planner();
  ASSERT_TRUE(planner);
  EXPECT_EQ((*planner)->stats().allocations, 0u) << "no copy target leased for a frame that cannot be copied";
  // A linear frame after it is copied (wrong size) as usual: the refusal
  // is about that buffer, not the client.
  h.out->present(make_buffer(32, 24, 2), 2, true);
  h.flip();
  EXPECT_EQ(reasons(h.presented.at(2)), (Names{"size_mismatch"}));
  EXPECT_EQ(h.copies.size(), 1u);
}

// Y-tiled, on a plane that takes X-tiled only (with ADDFB2 modifiers):
// modifier_not_on_plane blocks the direct path, modifier_not_linear the copy.
// Also when the plane does take the layout but the driver refuses the
// TEST_ONLY commit: still no copy.
TEST(KmsOutput, YTiledBufferIsRefusedWithBothReasons) {
  Harness h(true, false, [](FakeDrm& f) {
    f.addfb2_modifiers = 1;
    f.in_formats_blob = in_formats_blob({DRM_FORMAT_XRGB8888}, {{DRM_FORMAT_MOD_LINEAR, 1}, {I915_FORMAT_MOD_X_TILED, 1}});
  });
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1, buffer::Kind::dmabuf, DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_Y_TILED), 1, true);
  EXPECT_EQ(h.events, (Names{"discarded 1"}));
  EXPECT_EQ(h.counter("kms_frames_refused"), 1u);

  h.fake->reject_test_only = EINVAL;
  h.out->present(make_buffer(64, 48, 2, buffer::Kind::dmabuf, DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_X_TILED), 2, true);
  EXPECT_EQ(h.events, (Names{"discarded 1", "discarded 2"}));
  EXPECT_EQ(h.counter("kms_frames_refused"), 2u);
  EXPECT_TRUE(h.copies.empty());
}

// Legacy has no TEST_ONLY: a tiled buffer the plane listed goes to the
// commit, and when the driver refuses it there the copy fallback must not
// read it as linear either.
TEST(KmsOutput, LegacyRefusalOfATiledBufferIsNotCopied) {
  Harness h(false, false, [](FakeDrm& f) {
    f.addfb2_modifiers = 1;
    f.in_formats_blob = in_formats_blob({DRM_FORMAT_XRGB8888}, {{DRM_FORMAT_MOD_LINEAR, 1}, {I915_FORMAT_MOD_X_TILED, 1}});
  });
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.dispatch();
  h.fake->fail_commit_errno = EINVAL;
  h.out->present(make_buffer(64, 48, 2, buffer::Kind::dmabuf, DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_X_TILED), 2, true);
  EXPECT_EQ(h.events.back(), "discarded 2");
  EXPECT_EQ(h.counter("kms_frames_refused"), 1u);
  EXPECT_TRUE(h.copies.empty());
}

TEST(KmsOutput, ImportFailureIsCopiedAndCachedPerBuffer) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.fake->import_errno = EINVAL;
  auto a = make_buffer(64, 48, 1);
  h.out->present(a, 1, true);
  h.flip();
  h.out->present(a, 2, true);
  h.flip();
  EXPECT_FALSE(h.presented.at(2).direct);
  EXPECT_EQ(reasons(h.presented.at(2)), (Names{"import_failed"}));
  EXPECT_EQ(h.fake->prime_imports - h.fake->dumbs_created, 1) << "a failed import is not retried every frame";
}

TEST(KmsOutput, CopyTargetsAreBoundedAndReused) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.fake->reject_test_only = EINVAL;
  std::vector<std::shared_ptr<buffer::Buffer>> bufs;
  for (int i = 0; i < 3; ++i) bufs.push_back(make_buffer(64, 48, static_cast<uint64_t>(i)));
  for (uint64_t t = 1; t <= 12; ++t) {
    h.out->present(bufs[t % 3], t, true);
    if (t % 2 == 0) h.flip();
  }
  EXPECT_LE(h.fake->dumbs_created, 3) << "on screen, in flight, queued";
  EXPECT_EQ(h.fake->open_handles(), 0u);
}

// One owner of every scanout buffer the compositor makes: the copying
// transports (what the server leases for wl_shm and socket frames) and the
// KMS copy fallback lease from the same planner, so the two together never
// hold more buffers than its cap, and one path's leases leave the other
// fewer buffers (it is refused, not given a buffer of its own).
TEST(KmsOutput, CompositorCopiesAndTheCopyFallbackShareOnePlanner) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto planner = h.out->scanout_planner();
  ASSERT_TRUE(planner) << planner.error().message();
  buffer::ScanoutPlanner& p = **planner;
  const output::Mode m = h.out->mode();
  const auto live = [&] { return p.stats().buffers; };
  uint64_t peak = 0;
  const auto note = [&] { peak = std::max(peak, live()); };

  // The server's side: a shm frame copied into a leased buffer of the
  // mode's size, held while the display may read it (as InFlight does).
  std::vector<buffer::ScanoutLease> held;
  uint64_t tag = 1;
  auto compositor_frame = [&] {
    auto l = p.acquire(m.width, m.height, DRM_FORMAT_XRGB8888, buffer::ScanoutUser::compositor);
    if (!l) return false;
    h.out->present(l->shared_buffer(), tag++, /*client_owned=*/false);
    held.push_back(std::move(*l));
    note();
    return true;
  };
  // A client buffer the plane cannot read (bottom-up): the KMS output copies it.
  auto src = make_buffer(m.width, m.height, 7);
  auto flipped = describe_again(*src, DRM_FORMAT_XRGB8888, src->stride(), /*y_invert=*/true);
  auto client_frame = [&] {
    h.out->present(flipped, tag++, /*client_owned=*/true);
    note();
  };

  // Both paths at once, for a while: never more than the cap.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(compositor_frame());
    client_frame();
    h.flip();
    client_frame();
    h.flip();
    if (held.size() > 1) held.erase(held.begin());  // released: the lease ends
  }
  EXPECT_GT(h.copies.size(), 0u) << "the copy fallback ran";
  EXPECT_LE(peak, buffer::kMaxScanoutBuffers);
  EXPECT_LE(static_cast<uint64_t>(h.fake->dumbs_created), buffer::kMaxScanoutBuffers)
      << "every dumb buffer is one of the planner's (none was freed and made again: one shape)";

  // The compositor takes every buffer that is free: the copy fallback gets
  // none (EBUSY from the same planner), and the frame is discarded.
  while (compositor_frame()) {
  }
  h.flip();
  h.flip();
  EXPECT_EQ(live(), buffer::kMaxScanoutBuffers);
  const uint64_t refused = p.stats().refused_busy;
  const uint64_t discarded_before = h.counter("kms_frames_discarded");
  // Whatever the output still holds on screen/in flight keeps its lease; take the rest.
  while (compositor_frame()) {
  }
  const uint64_t t = tag;
  client_frame();
  EXPECT_GT(p.stats().refused_busy, refused);
  EXPECT_EQ(h.counter("kms_frames_discarded"), discarded_before + 1);
  EXPECT_NE(std::find(h.events.begin(), h.events.end(), "discarded " + std::to_string(t)), h.events.end());
  EXPECT_EQ(peak, buffer::kMaxScanoutBuffers);
  held.clear();
  h.flip();
}

// -------------------------------- framebuffers, GEM handles, lifetimes
TEST(KmsOutput, FramebufferPerBufferCachedAndRemovedOnlyWhenUnused) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1), b = make_buffer(64, 48, 2);
  h.out->present(a, 1, true);
  h.flip();
  h.out->present(b, 2, true);
  h.flip();
  h.out->present(a, 3, true);
  h.flip();
  EXPECT_EQ(h.fake->addfb_plain, 2) << "one framebuffer per buffer, made once";
  EXPECT_EQ(h.fake->open_handles(), 0u) << "GEM handles are closed right after AddFB2";
  EXPECT_EQ(h.fake->bad_handle_closes, 0);
  const uint32_t fb_a = h.fake->plane_fb;
  // The client destroys A's wl_buffer while A is on screen: A's framebuffer
  // must survive until the flip that replaces it completed.
  a.reset();
  h.out->present(b, 4, true);
  EXPECT_EQ(h.fake->fbs.count(fb_a), 1u) << "still scanned out";
  h.flip();
  EXPECT_EQ(h.fake->fbs.count(fb_a), 0u) << "removed once nothing shows it";
  EXPECT_EQ(h.counter("kms_fbs_live"), 1u);
  EXPECT_EQ(h.fake->rmfb_unknown, 0);
}

TEST(KmsOutput, AddressReuseDoesNotReturnAStaleFramebuffer) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  for (uint64_t t = 1; t <= 6; ++t) {
    auto b = make_buffer(64, 48, t);  // often at the address the previous one had
    h.out->present(b, t, true);
    const uint32_t fb = static_cast<uint32_t>(h.fake->commits.back().value(FakeDrm::kPrimary, FakeDrm::kFbId));
    EXPECT_EQ(h.fake->fbs.at(fb).object, [&] {
      struct stat st {};
      ::fstat(b->desc().planes[0].fd.get(), &st);
      return st.st_ino;
    }()) << "frame " << t << " shows its own buffer";
    b.reset();
    h.flip();
  }
  EXPECT_LE(h.counter("kms_fbs_live"), 2u);
}

TEST(KmsFramebuffer, SharedHandleOfMultiPlaneBufferIsClosedOnce) {
  auto drm = std::make_shared<FakeDrm>();
  FakeDrm& fake = *drm;
  buffer::Dmabuf d;
  d.width = 16;
  d.height = 16;
  d.format = DRM_FORMAT_XRGB8888;
  d.modifier = DRM_FORMAT_MOD_LINEAR;
  d.num_planes = 2;  // two planes in one dma-buf: the kernel gives one handle
  const int fd = ::memfd_create("two-planes", MFD_CLOEXEC);
  ASSERT_EQ(::ftruncate(fd, 4096 * 2), 0);
  d.planes[0].fd = UniqueFd{fd};
  d.planes[1].fd = d.planes[0].fd.dup_cloexec();
  d.planes[0].stride = d.planes[1].stride = 64;
  d.planes[1].offset = 4096;
  auto counters = std::make_shared<output::kms::FramebufferCounters>();
  const auto& n = *counters;
  auto fb = output::kms::Framebuffer::import(drm, d, false, counters);
  ASSERT_TRUE(fb) << fb.error().message();
  EXPECT_EQ(fake.open_handles(), 0u);
  EXPECT_EQ(fake.bad_handle_closes, 0) << "the shared handle is closed exactly once";
  EXPECT_EQ(n.gem_handles_opened, 1u);
  EXPECT_EQ(n.gem_handles_closed, 1u);
  const uint32_t id = (*fb)->id();
  fb.value().reset();
  EXPECT_EQ(fake.fbs.count(id), 0u) << "RmFB in the destructor";
}

TEST(KmsFramebuffer, HandlesAreClosedWhenAddfbFails) {
  auto drm = std::make_shared<FakeDrm>();
  FakeDrm& fake = *drm;
  fake.addfb_errno = EINVAL;
  auto b = make_buffer(16, 16, 0);
  auto fb = output::kms::Framebuffer::import(drm, b->desc(), false);
  EXPECT_FALSE(fb);
  EXPECT_EQ(fake.open_handles(), 0u);
}

TEST(KmsFramebuffer, ModifiersOnlyWhenTheDeviceTakesThem) {
  auto drm = std::make_shared<FakeDrm>();
  FakeDrm& fake = *drm;
  auto linear = make_buffer(16, 16, 0);
  ASSERT_TRUE(output::kms::Framebuffer::import(drm, linear->desc(), false));
  EXPECT_EQ(fake.addfb_plain, 1);
  auto tiled = make_buffer(16, 16, 0, buffer::Kind::dmabuf, DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_X_TILED);
  auto r = output::kms::Framebuffer::import(drm, tiled->desc(), false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("ADDFB2_MODIFIERS = 0"), std::string::npos) << r.error().message();
  EXPECT_EQ(fake.prime_imports, 1) << "refused before importing";
  fake.addfb2_modifiers = 1;
  ASSERT_TRUE(output::kms::Framebuffer::import(drm, tiled->desc(), true));
  EXPECT_EQ(fake.addfb_with_modifiers, 1);
  EXPECT_EQ(fake.open_handles(), 0u);
}

// A framebuffer may outlive the output and the device object that made it
// (a compositor tearing down in another order): it holds the device, so
// its RmFB reaches a live one, and the device closes only after that.
TEST(KmsFramebuffer, OutlivesTheDeviceObjectAndStillRemovesItsId) {
  auto f = std::make_unique<FakeDrm>();
  size_t fbs_left_at_close = 99;
  bool closed = false;
  f->on_destroy = [&](const FakeDrm& d) {
    closed = true;
    fbs_left_at_close = d.fbs.size();
  };
  auto dev = std::shared_ptr<output::kms::Device>(
      output::kms::Device::adopt(std::move(f), "/dev/dri/fake0", 0, true));
  auto b = make_buffer(16, 16, 0);
  auto fb = output::kms::Framebuffer::import(dev->drm_ptr(), b->desc(), false);
  ASSERT_TRUE(fb) << fb.error().message();
  dev.reset();
  EXPECT_FALSE(closed) << "the framebuffer keeps the device open";
  fb.value().reset();
  EXPECT_TRUE(closed) << "the last framebuffer closes it";
  EXPECT_EQ(fbs_left_at_close, 0u) << "RmFB ran before the device went away";
}

TEST(KmsDumb, AllocatesMappedDmabufsAndKeepsNoHandle) {
  auto dev = std::shared_ptr<output::kms::Device>(
      output::kms::Device::adopt(std::make_unique<FakeDrm>(), "/dev/dri/fake0", 0, true));
  auto& fake = static_cast<FakeDrm&>(dev->drm());
  auto alloc = output::kms::create_dumb_allocator(dev);
  auto b = alloc->allocate(64, 48, DRM_FORMAT_XRGB8888, {});
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ((*b)->kind(), buffer::Kind::dmabuf);
  EXPECT_TRUE((*b)->mapped());
  EXPECT_EQ((*b)->stride(), 256u);
  EXPECT_EQ(fake.open_handles(), 0u) << "the dma-buf holds the memory, not a GEM handle";
  EXPECT_EQ(alloc->kind(), buffer::Kind::dmabuf);
  // 24-bit frames, which this device refuses as dumb buffers, go to shared memory.
  auto rgb = alloc->allocate(64, 48, DRM_FORMAT_RGB888, {});
  ASSERT_TRUE(rgb) << rgb.error().message();
  EXPECT_EQ((*rgb)->kind(), buffer::Kind::shared_memory);
  EXPECT_EQ(alloc->kind(), buffer::Kind::shared_memory) << "not every buffer it makes is a dma-buf any more";
  // Once the device is gone, allocation says so instead of crashing.
  dev.reset();
  EXPECT_FALSE(alloc->allocate(64, 48, DRM_FORMAT_XRGB8888, {}));
}

TEST(KmsOutput, ScanoutBuffersFromTheDumbAllocatorGoOnThePlaneDirectly) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto alloc = h.out->scanout_allocator();
  ASSERT_TRUE(alloc);
  auto b = (*alloc)->allocate(64, 48, DRM_FORMAT_XRGB8888, {});
  ASSERT_TRUE(b);
  h.out->present(std::shared_ptr<buffer::Buffer>(std::move(b.value())), 1, /*client_owned=*/false);
  h.flip();
  EXPECT_TRUE(h.presented.at(1).direct);
  EXPECT_FALSE(h.presented.at(1).zero_copy) << "direct, but the compositor's copy, not the client's buffer";
  EXPECT_TRUE(h.copies.empty());
}

// ------------------------------------------------------------ withdraw
TEST(KmsOutput, WithdrawBlanksAndReleasesAfterTheBlankFlip) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1);
  h.out->present(a, 1, true);
  h.flip();
  h.out->withdraw(1);
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1"})) << "A is on screen until the blank frame is";
  ASSERT_EQ(h.fake->commits.size(), 2u);
  h.flip();
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1", "released 1"}));
  EXPECT_TRUE(h.copies.empty()) << "blanking is not a copy of pixels";
}

TEST(KmsOutput, WithdrawOfQueuedAndInFlightFrames) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1), b = make_buffer(64, 48, 2);
  h.out->present(a, 1, true);
  h.out->present(b, 2, true);
  h.out->withdraw(2);
  h.out->withdraw(1);
  EXPECT_EQ(h.events, (std::vector<std::string>{"discarded 2"}));
  h.flip();  // A reaches the screen, and is replaced by black at once
  h.flip();
  EXPECT_EQ(h.events, (std::vector<std::string>{"discarded 2", "presented 1", "released 1"}));
}

// ------------------------------------------------------------ legacy
TEST(KmsOutput, LegacySetCrtcThenPageFlips) {
  Harness h(/*atomic=*/false);
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  EXPECT_TRUE(h.fake->commits.empty());
  ASSERT_EQ(h.fake->set_crtcs.size(), 1u);
  EXPECT_TRUE(h.fake->set_crtcs[0].has_mode);
  EXPECT_EQ(h.fake->set_crtcs[0].connectors, std::vector<uint32_t>{FakeDrm::kConnector});
  EXPECT_TRUE(h.events.empty()) << "reported from the event loop, not from inside present()";
  h.dispatch();
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1"}));
  h.out->present(make_buffer(64, 48, 2), 2, true);
  ASSERT_EQ(h.fake->page_flips.size(), 1u);
  EXPECT_EQ(h.fake->page_flips[0].flags, static_cast<uint32_t>(DRM_MODE_PAGE_FLIP_EVENT));
  h.flip();
  EXPECT_EQ(h.events, (std::vector<std::string>{"presented 1", "released 1", "presented 2"}));
  EXPECT_TRUE(h.fake->test_commits.empty()) << "legacy has no TEST_ONLY";
}

TEST(KmsOutput, NoAtomicDriverFallsBackToLegacy) {
  Harness h(true, false, [](FakeDrm& f) { f.atomic_supported = false; });
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  EXPECT_EQ(h.fake->set_crtcs.size(), 1u);
  EXPECT_TRUE(h.fake->commits.empty());
}

TEST(KmsOutput, LegacyPageFlipRefusalFallsBackToACopy) {
  Harness h(false);
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.dispatch();
  // The driver refuses the client's buffer at flip time (no TEST_ONLY in legacy).
  h.fake->fail_commit_errno = EINVAL;
  h.out->present(make_buffer(64, 48, 2), 2, true);
  // Both the direct flip and the copy's flip fail here (the fake refuses all):
  // the frame is reported discarded, never silently lost.
  EXPECT_EQ(h.events.back(), "discarded 2");
  EXPECT_EQ(h.counter("kms_commit_failures"), 2u);
}

// ------------------------------------------------------------ restore
TEST(KmsOutput, RestoresThePreviousFramebufferAndModeAtExit) {
  Harness h(true, false, [](FakeDrm& f) { f.set_initial_fb(); });
  ASSERT_TRUE(h.out) << h.error;
  const uint32_t console = h.fake->initial_fb;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.flip();
  FakeDrm* fake = h.fake;
  auto keep = h.device;  // look at the fake after the output is gone
  h.out.reset();
  ASSERT_FALSE(fake->set_crtcs.empty());
  EXPECT_EQ(fake->set_crtcs.back().fb, console);
  EXPECT_TRUE(fake->set_crtcs.back().has_mode);
  EXPECT_EQ(fake->plane_fb, console);
  EXPECT_EQ(fake->fbs.size(), 1u) << "only the console's framebuffer is left";
  EXPECT_EQ(fake->open_handles(), 0u);
}

TEST(KmsOutput, TurnsTheCrtcOffAtExitIfItWasOff) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.flip();
  FakeDrm* fake = h.fake;
  auto keep = h.device;
  h.out.reset();
  const auto& last = fake->commits.back();
  EXPECT_EQ(last.value(FakeDrm::kCrtc, FakeDrm::kCrtcActive), 0u);
  EXPECT_EQ(last.value(FakeDrm::kPrimary, FakeDrm::kFbId), 0u);
  EXPECT_TRUE(last.flags & DRM_MODE_ATOMIC_ALLOW_MODESET);
  EXPECT_FALSE(fake->crtc_active);
  EXPECT_TRUE(fake->fbs.empty());
}

TEST(KmsOutput, ExitWaitsForTheFlipInFlightBeforeRemovingFramebuffers) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.out->present(make_buffer(64, 48, 1), 1, true);
  h.fake->complete_flips();  // the event is there, but not yet handled
  FakeDrm* fake = h.fake;
  auto keep = h.device;
  h.out.reset();
  const auto& ops = fake->ops;
  const auto event = std::find(ops.begin(), ops.end(), "event");
  const auto rmfb = std::find_if(ops.begin(), ops.end(), [](const std::string& s) { return s.rfind("rmfb", 0) == 0; });
  ASSERT_NE(event, ops.end());
  ASSERT_NE(rmfb, ops.end());
  EXPECT_LT(event - ops.begin(), rmfb - ops.begin());
}

TEST(KmsOutput, NothingIsTouchedAtExitIfNothingWasShown) {
  Harness h(true, false, [](FakeDrm& f) { f.set_initial_fb(); });
  ASSERT_TRUE(h.out) << h.error;
  FakeDrm* fake = h.fake;
  auto keep = h.device;
  h.out.reset();
  EXPECT_TRUE(fake->commits.empty());
  EXPECT_TRUE(fake->set_crtcs.empty());
}

TEST(KmsOutput, ScheduleVblankWithNothingToFlipStillCallsBack) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  h.out->schedule_vblank();
  for (int i = 0; i < 20 && h.vblanks == 0; ++i) h.dispatch(10);
  EXPECT_EQ(h.vblanks, 1);
}

}  // namespace
}  // namespace zc::test
