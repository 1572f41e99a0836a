// The cpu renderer's modifier choice (client/renderer.h) and the dmabuf
// transport's tranche walk (transport/transport.h): the cpu renderer writes
// rows one after another, so it must end up with LINEAR (or no modifier where
// the device has none), never with a tiled or compressed layout a display
// tranche offers first.
#include <drm_fourcc.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "client/renderer.h"
#include "common/format.h"
#include "transport/transport.h"

namespace zc {
namespace {

using Mods = std::vector<uint64_t>;

// Modifiers real planes list (Intel and AMD), besides LINEAR.
const uint64_t kYTiled = I915_FORMAT_MOD_Y_TILED;
const uint64_t kYTiledCcs = I915_FORMAT_MOD_Y_TILED_CCS;
const uint64_t kAmdDcc = AMD_FMT_MOD | AMD_FMT_MOD_SET(TILE, AMD_FMT_MOD_TILE_GFX9_64K_R_X) |
                         AMD_FMT_MOD_SET(TILE_VERSION, AMD_FMT_MOD_TILE_VER_GFX9) | AMD_FMT_MOD_SET(DCC, 1);

Mods linear(const Mods& accepted) {
  auto r = client::linear_modifiers(accepted);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r.value() : Mods{0xdead};
}

TEST(CpuModifiers, LinearAmongTiledIsLinearOnly) {
  EXPECT_EQ(linear(Mods{kYTiled, DRM_FORMAT_MOD_LINEAR}), Mods{DRM_FORMAT_MOD_LINEAR});
  EXPECT_EQ(linear(Mods{kAmdDcc, kYTiledCcs, DRM_FORMAT_MOD_LINEAR, kYTiled}), Mods{DRM_FORMAT_MOD_LINEAR});
}

TEST(CpuModifiers, LinearAndInvalidPrefersExplicitLinear) {
  // What zcpipe's own compositor offers on a device without modifiers.
  EXPECT_EQ(linear(Mods{DRM_FORMAT_MOD_LINEAR, DRM_FORMAT_MOD_INVALID}), Mods{DRM_FORMAT_MOD_LINEAR});
  EXPECT_EQ(linear(Mods{DRM_FORMAT_MOD_INVALID, DRM_FORMAT_MOD_LINEAR}), Mods{DRM_FORMAT_MOD_LINEAR});
}

TEST(CpuModifiers, NoModifierAtAllIsImplicit) {
  EXPECT_EQ(linear(Mods{}), Mods{});
  EXPECT_EQ(linear(Mods{DRM_FORMAT_MOD_INVALID}), Mods{});
  // INVALID accepted: a buffer without a modifier, made LINEAR by GBM_BO_USE_LINEAR.
  EXPECT_EQ(linear(Mods{kYTiled, DRM_FORMAT_MOD_INVALID}), Mods{});
}

TEST(CpuModifiers, OnlyTiledOrCompressedIsRefusedNamingThem) {
  auto r = client::linear_modifiers(Mods{kYTiled, kYTiledCcs});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOTSUP);
  // Both refused modifiers are named (I915_FORMAT_MOD_Y_TILED is 0x0100000000000002).
  EXPECT_NE(r.error().what.find(modifier_name(kYTiled)), std::string::npos) << r.error().what;
  EXPECT_NE(r.error().what.find(modifier_name(kYTiledCcs)), std::string::npos) << r.error().what;
  EXPECT_FALSE(client::linear_modifiers(Mods{kAmdDcc}));
}

TEST(CpuModifiers, TheCpuRendererUsesIt) {
  auto cpu = client::make_cpu_renderer(client::Render::full);
  auto r = cpu->choose_modifiers(Mods{kYTiled, DRM_FORMAT_MOD_LINEAR});
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), Mods{DRM_FORMAT_MOD_LINEAR});
  EXPECT_FALSE(cpu->choose_modifiers(Mods{kYTiled}));
}

// ---------------------------------------------------------------- tranches
const transport::ModifierChoice kCpu = [](const Mods& accepted) { return client::linear_modifiers(accepted); };
constexpr uint32_t kX = DRM_FORMAT_XRGB8888;
constexpr uint32_t kA = DRM_FORMAT_ARGB8888;

TEST(PickModifiers, ScanoutTrancheWithLinearWins) {
  // An Intel-like plane: tiled first, LINEAR too; then the render tranche.
  const std::vector<transport::Tranche> t = {
      {{{kX, kYTiledCcs}, {kX, kYTiled}, {kX, DRM_FORMAT_MOD_LINEAR}}, true},
      {{{kX, kYTiled}, {kX, DRM_FORMAT_MOD_LINEAR}, {kX, DRM_FORMAT_MOD_INVALID}}, false},
  };
  auto p = transport::pick_modifiers(t, kX, kCpu);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->modifiers, Mods{DRM_FORMAT_MOD_LINEAR});
  EXPECT_TRUE(p->scanout);
}

TEST(PickModifiers, ScanoutTrancheWithoutLinearFallsToTheNext) {
  const std::vector<transport::Tranche> t = {
      {{{kX, kYTiledCcs}, {kX, kYTiled}}, true},
      {{{kX, kYTiled}, {kX, DRM_FORMAT_MOD_INVALID}}, false},
  };
  auto p = transport::pick_modifiers(t, kX, kCpu);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->modifiers, Mods{});  // implicit
  EXPECT_FALSE(p->scanout);
}

TEST(PickModifiers, TranchesWithoutTheFormatAreSkipped) {
  const std::vector<transport::Tranche> t = {
      {{{kA, DRM_FORMAT_MOD_LINEAR}}, true},
      {{{kX, DRM_FORMAT_MOD_LINEAR}}, false},
  };
  auto p = transport::pick_modifiers(t, kX, kCpu);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->scanout);
}

TEST(PickModifiers, NoTrancheWithTheFormat) {
  const std::vector<transport::Tranche> t = {{{{kA, DRM_FORMAT_MOD_LINEAR}}, true}};
  auto p = transport::pick_modifiers(t, kX, kCpu);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ENOTSUP);
  EXPECT_NE(p.error().what.find("does not accept XRGB8888"), std::string::npos) << p.error().what;
  EXPECT_FALSE(transport::pick_modifiers({}, kX, kCpu));
}

TEST(PickModifiers, OnlyTiledEverywhereGivesTheRenderersReason) {
  const std::vector<transport::Tranche> t = {
      {{{kX, kYTiledCcs}}, true},
      {{{kX, kYTiled}}, false},
  };
  auto p = transport::pick_modifiers(t, kX, kCpu);
  ASSERT_FALSE(p);
  // The most preferred tranche's reason.
  EXPECT_NE(p.error().what.find("cpu renderer"), std::string::npos) << p.error().what;
  EXPECT_NE(p.error().what.find(modifier_name(kYTiledCcs)), std::string::npos) << p.error().what;
  EXPECT_EQ(p.error().what.find(modifier_name(kYTiled)), std::string::npos) << p.error().what;
}

}  // namespace
}  // namespace zc
