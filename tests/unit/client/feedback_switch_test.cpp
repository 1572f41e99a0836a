// Following per-surface dmabuf feedback (transport::scanout_switch): which
// ring a client reallocates after the compositor re-sends its feedback. The
// decisions: keep the ring when the scanout tranche holds it; otherwise the
// ring's own format with a layout the renderer can draw; another format only
// when the client may switch (--follow-feedback); never a tiled layout for
// the cpu renderer.
#include <drm_fourcc.h>

#include <gtest/gtest.h>

#include "client/renderer.h"
#include "transport/transport.h"

namespace zc {
namespace {

using transport::Tranche;

// The cpu renderer's choice: LINEAR, or no modifier, never tiled.
const transport::ModifierChoice kCpu = [](const std::vector<uint64_t>& accepted) {
  return client::linear_modifiers(accepted);
};

// What zcpipe-compositor sends on the VM's virtio-gpu: its primary plane
// takes XRGB8888 only (linear or implicit); ARGB8888 is accepted by copying.
std::vector<Tranche> virtio_feedback() {
  Tranche scanout{{{DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR}, {DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_INVALID}}, true};
  Tranche all{scanout.pairs, false};
  all.pairs.emplace_back(DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_LINEAR);
  all.pairs.emplace_back(DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_INVALID);
  return {scanout, all};
}

TEST(FeedbackSwitch, ArgbRingSwitchesToXrgbOnlyWhenAllowed) {
  const auto fb = virtio_feedback();
  EXPECT_FALSE(transport::scanout_switch(fb, DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_INVALID, false, kCpu))
      << "without --follow-feedback the format stays what --format asked";
  auto to = transport::scanout_switch(fb, DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_INVALID, true, kCpu);
  ASSERT_TRUE(to);
  EXPECT_EQ(to->format, DRM_FORMAT_XRGB8888);
  EXPECT_EQ(to->modifiers, std::vector<uint64_t>{DRM_FORMAT_MOD_LINEAR});
}

TEST(FeedbackSwitch, ARingTheDisplayTakesStays) {
  const auto fb = virtio_feedback();
  EXPECT_FALSE(transport::scanout_switch(fb, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_INVALID, true, kCpu));
  EXPECT_FALSE(transport::scanout_switch(fb, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true, kCpu));
}

TEST(FeedbackSwitch, NoScanoutTrancheNoSwitch) {
  auto fb = virtio_feedback();
  fb.erase(fb.begin());
  EXPECT_FALSE(transport::scanout_switch(fb, DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_LINEAR, true, kCpu));
}

TEST(FeedbackSwitch, SameFormatNewModifierNeedsNoPermission) {
  // A plane that takes XRGB8888 only tiled or linear, a ring of implicit layout
  // it does not list: the cpu renderer moves to LINEAR, keeping its format.
  std::vector<Tranche> fb{{{{DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_Y_TILED}, {DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR}}, true}};
  auto to = transport::scanout_switch(fb, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_INVALID, false, kCpu);
  ASSERT_TRUE(to);
  EXPECT_EQ(to->format, DRM_FORMAT_XRGB8888);
  EXPECT_EQ(to->modifiers, std::vector<uint64_t>{DRM_FORMAT_MOD_LINEAR});
}

TEST(FeedbackSwitch, TiledOnlyScanoutIsNothingTheCpuCanDraw) {
  std::vector<Tranche> fb{{{{DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_Y_TILED}, {DRM_FORMAT_XRGB8888, I915_FORMAT_MOD_Y_TILED_CCS}}, true}};
  EXPECT_FALSE(transport::scanout_switch(fb, DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_LINEAR, true, kCpu));
}

TEST(FeedbackSwitch, UnknownFormatsAreSkippedInTrancheOrder) {
  // NV12 first (zcpipe's pattern cannot draw it), then XBGR8888.
  std::vector<Tranche> fb{{{{DRM_FORMAT_NV12, DRM_FORMAT_MOD_LINEAR}, {DRM_FORMAT_XBGR8888, DRM_FORMAT_MOD_LINEAR}}, true}};
  auto to = transport::scanout_switch(fb, DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_LINEAR, true, kCpu);
  ASSERT_TRUE(to);
  EXPECT_EQ(to->format, DRM_FORMAT_XBGR8888);
}

}  // namespace
}  // namespace zc
