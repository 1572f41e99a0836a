// zcpipe-probe's KMS queries, on the fake device: the probe asks through
// the same kms::Drm seam as the KMS output (no libdrm query of its own), so
// what it reports is checked here without hardware.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include "fake_drm.h"
#include "probe/probe.h"

namespace zc::test {
namespace {

probe::DeviceReport run(FakeDrm& fake) {
  probe::DeviceReport r;
  r.path = "/dev/dri/fake0";
  auto ok = probe::probe_drm(fake, r);
  EXPECT_TRUE(ok) << ok.error().message();
  return r;
}

TEST(Probe, ReportsDriverCapsAndTheDisplayPipeline) {
  FakeDrm fake;
  fake.addfb2_modifiers = 1;
  fake.plane_formats = {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888};
  fake.in_formats_blob = in_formats_blob({DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888},
                                         {{DRM_FORMAT_MOD_LINEAR, 0b11}, {I915_FORMAT_MOD_X_TILED, 0b01}});
  fake.set_initial_fb();
  const probe::DeviceReport r = run(fake);
  EXPECT_EQ(r.driver, "fake");
  EXPECT_EQ(r.driver_version, "1.2.3");
  EXPECT_TRUE(r.master);
  EXPECT_TRUE(r.caps.atomic);
  EXPECT_TRUE(r.caps.dumb_buffer);
  EXPECT_TRUE(r.caps.addfb2_modifiers);
  EXPECT_TRUE(r.caps.prime_import && r.caps.prime_export);
  EXPECT_FALSE(r.caps.async_page_flip) << "the fake refuses that cap query";
  ASSERT_TRUE(r.kms);

  ASSERT_EQ(r.connectors.size(), 1u);
  const probe::Connector& c = r.connectors[0];
  EXPECT_EQ(c.name, "Virtual-1");
  EXPECT_EQ(c.status, "connected");
  EXPECT_EQ(c.mm_width, 600u);
  EXPECT_EQ(c.possible_crtcs, (std::vector<uint32_t>{0}));
  ASSERT_EQ(c.modes.size(), fake.modes.size());
  EXPECT_EQ(c.modes[0].width, 64u);
  EXPECT_TRUE(c.modes[0].preferred);

  ASSERT_EQ(r.crtcs.size(), 1u);
  EXPECT_EQ(r.crtcs[0].id, FakeDrm::kCrtc);
  EXPECT_EQ(r.crtcs[0].fb_id, fake.initial_fb);
  ASSERT_TRUE(r.crtcs[0].mode);
  EXPECT_EQ(r.crtcs[0].mode->height, 48u);

  ASSERT_EQ(r.planes.size(), 2u);
  const probe::Plane& primary = r.planes[0];
  EXPECT_EQ(primary.type, "primary");
  EXPECT_EQ(r.planes[1].type, "cursor");
  EXPECT_EQ(primary.formats, fake.plane_formats);
  ASSERT_TRUE(primary.has_in_formats);
  ASSERT_EQ(primary.in_formats.size(), 2u);
  EXPECT_EQ(primary.in_formats[0].fourcc, uint32_t{DRM_FORMAT_XRGB8888});
  EXPECT_EQ(primary.in_formats[0].modifiers,
            (std::vector<uint64_t>{DRM_FORMAT_MOD_LINEAR, I915_FORMAT_MOD_X_TILED}));
  EXPECT_EQ(primary.in_formats[1].modifiers, (std::vector<uint64_t>{DRM_FORMAT_MOD_LINEAR}));
  EXPECT_FALSE(r.planes[1].has_in_formats);

  // Like virtio-gpu: no vblank counter at all.
  ASSERT_TRUE(r.vblank.supported);
  EXPECT_FALSE(*r.vblank.supported);
  EXPECT_EQ(r.vblank.error, EOPNOTSUPP);
}

TEST(Probe, VblankAndADisconnectedConnector) {
  FakeDrm fake;
  fake.vblank = true;
  fake.connected = false;
  fake.atomic_supported = false;
  const probe::DeviceReport r = run(fake);
  EXPECT_FALSE(r.caps.atomic);
  ASSERT_EQ(r.connectors.size(), 1u);
  EXPECT_EQ(r.connectors[0].status, "disconnected");
  EXPECT_TRUE(r.connectors[0].modes.empty());
  EXPECT_FALSE(r.crtcs.at(0).mode) << "the CRTC is off";
  ASSERT_TRUE(r.vblank.supported);
  EXPECT_TRUE(*r.vblank.supported);
}

}  // namespace
}  // namespace zc::test
