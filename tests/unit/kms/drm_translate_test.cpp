// The libdrm translation of real_drm.cpp, without a device: libdrm's structs
// built by hand, as the kernel would fill them, go through the same pure
// functions RealDrm uses (drm_ptr.h).
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "output/kms/drm_ptr.h"
#include "output/kms/properties.h"

namespace zc::test {
namespace {

using namespace zc::output::kms;

TEST(KmsDrmTranslate, ErrnoFromEitherLibdrmConvention) {
  EXPECT_EQ(drm_errno(0, EBUSY), 0) << "success ignores a stale errno";
  EXPECT_EQ(drm_errno(-EBUSY, 0), EBUSY) << "-errno return";
  EXPECT_EQ(drm_errno(-1, EACCES), EACCES) << "-1 with errno";
  EXPECT_EQ(drm_errno(-1, 0), EIO) << "-1 without errno is still a failure";
  // -EPERM is -1: the two conventions cannot be told apart there, and errno decides.
  EXPECT_EQ(drm_errno(-1, EPERM), EPERM);
}

TEST(KmsDrmTranslate, Resources) {
  std::array<uint32_t, 2> crtcs{40, 41};
  std::array<uint32_t, 1> conns{50};
  drmModeRes r{};
  r.count_crtcs = 2;
  r.crtcs = crtcs.data();
  r.count_connectors = 1;
  r.connectors = conns.data();
  r.count_encoders = 3;  // a count with no array is never walked
  r.encoders = nullptr;
  const Resources out = to_resources(r);
  EXPECT_EQ(out.crtcs, (std::vector<uint32_t>{40, 41}));
  EXPECT_EQ(out.connectors, (std::vector<uint32_t>{50}));
  EXPECT_TRUE(out.encoders.empty());
}

TEST(KmsDrmTranslate, Connector) {
  std::array<uint32_t, 2> encoders{60, 61};
  std::array<drmModeModeInfo, 2> modes{};
  modes[0].hdisplay = 3840;
  modes[1].hdisplay = 1920;
  drmModeConnector c{};
  c.connector_id = 34;
  c.connector_type = DRM_MODE_CONNECTOR_HDMIA;
  c.connector_type_id = 2;
  c.connection = DRM_MODE_CONNECTED;
  c.mmWidth = 600;
  c.mmHeight = 340;
  c.encoder_id = 60;
  c.count_encoders = 2;
  c.encoders = encoders.data();
  c.count_modes = 2;
  c.modes = modes.data();
  ConnectorInfo out = to_connector_info(c);
  EXPECT_EQ(out.id, 34u);
  EXPECT_EQ(out.type, uint32_t{DRM_MODE_CONNECTOR_HDMIA});
  EXPECT_EQ(out.type_id, 2u);
  EXPECT_TRUE(out.connected);
  EXPECT_EQ(out.connection, uint32_t{DRM_MODE_CONNECTED});
  EXPECT_EQ(out.mm_width, 600u);
  EXPECT_EQ(out.mm_height, 340u);
  EXPECT_EQ(out.encoder_id, 60u);
  EXPECT_EQ(out.encoders, (std::vector<uint32_t>{60, 61}));
  ASSERT_EQ(out.modes.size(), 2u);
  EXPECT_EQ(out.modes[1].hdisplay, 1920);
  c.connection = DRM_MODE_UNKNOWNCONNECTION;
  EXPECT_FALSE(to_connector_info(c).connected) << "unknown is not connected: nothing to show on";
  EXPECT_EQ(to_connector_info(c).connection, uint32_t{DRM_MODE_UNKNOWNCONNECTION}) << "zcpipe-probe says unknown";
  c.connection = DRM_MODE_DISCONNECTED;
  EXPECT_FALSE(to_connector_info(c).connected);
}

TEST(KmsDrmTranslate, DriverVersion) {
  char name[] = {'v', 'i', 'r', 't', 'i', 'o', '_', 'g', 'p', 'u', 'X'};  // not NUL-terminated
  char desc[] = "virtio GPU";
  drmVersion v{};
  v.version_major = 0;
  v.version_minor = 1;
  v.version_patchlevel = 0;
  v.name = name;
  v.name_len = 10;
  v.desc = desc;
  v.desc_len = 10;
  const DriverVersion out = to_driver_version(v);
  EXPECT_EQ(out.name, "virtio_gpu") << "the length counts, not a NUL";
  EXPECT_EQ(out.version, "0.1.0");
  EXPECT_EQ(out.description, "virtio GPU");
  v.desc = nullptr;
  EXPECT_EQ(to_driver_version(v).description, "");
}

TEST(KmsDrmTranslate, EncoderCrtcPlane) {
  drmModeEncoder e{};
  e.encoder_id = 60;
  e.crtc_id = 40;
  e.possible_crtcs = 0b101;
  const EncoderInfo ei = to_encoder_info(e);
  EXPECT_EQ(ei.id, 60u);
  EXPECT_EQ(ei.crtc_id, 40u);
  EXPECT_EQ(ei.possible_crtcs, 0b101u);

  drmModeCrtc c{};
  c.crtc_id = 40;
  c.buffer_id = 7;
  c.x = 1;
  c.y = 2;
  c.mode_valid = 1;
  c.mode.vdisplay = 2160;
  const CrtcInfo ci = to_crtc_info(c);
  EXPECT_EQ(ci.id, 40u);
  EXPECT_EQ(ci.fb_id, 7u);
  EXPECT_EQ(ci.x, 1u);
  EXPECT_EQ(ci.y, 2u);
  EXPECT_TRUE(ci.mode_valid);
  EXPECT_EQ(ci.mode.vdisplay, 2160);

  std::array<uint32_t, 2> formats{0x34325258, 0x34325241};  // XR24, AR24
  drmModePlane p{};
  p.plane_id = 31;
  p.crtc_id = 40;
  p.fb_id = 7;
  p.possible_crtcs = 1;
  p.count_formats = 2;
  p.formats = formats.data();
  const PlaneInfo pi = to_plane_info(p);
  EXPECT_EQ(pi.id, 31u);
  EXPECT_EQ(pi.crtc_id, 40u);
  EXPECT_EQ(pi.fb_id, 7u);
  EXPECT_EQ(pi.possible_crtcs, 1u);
  EXPECT_EQ(pi.formats, (std::vector<uint32_t>{0x34325258, 0x34325241}));
}

TEST(KmsDrmTranslate, FlipEventKeepsUserDataAndTime) {
  const uint64_t serial = 0x1234'5678'9abcull;
  const FlipEvent e = to_flip_event(77, 12, 345'678, 40, reinterpret_cast<void*>(static_cast<uintptr_t>(serial)));
  EXPECT_EQ(e.sequence, 77u);
  EXPECT_EQ(e.crtc_id, 40u);
  EXPECT_EQ(e.time_ns, 12'345'678'000ull);
  EXPECT_EQ(e.user_data, serial);
}

// IN_FORMATS, as the kernel lays the blob out: header, fourccs, then
// modifiers each with a bitmask over (a window of) the formats.
TEST(KmsDrmTranslate, InFormatsBlob) {
  struct {
    drm_format_modifier_blob h;
    uint32_t formats[2];
    uint32_t pad[2];
    drm_format_modifier mods[2];
  } b{};
  b.h.version = FORMAT_BLOB_CURRENT;
  b.h.count_formats = 2;
  b.h.formats_offset = offsetof(decltype(b), formats);
  b.h.count_modifiers = 2;
  b.h.modifiers_offset = offsetof(decltype(b), mods);
  b.formats[0] = 0x34325258;
  b.formats[1] = 0x34325241;
  b.mods[0] = drm_format_modifier{0b11, 0, {}, 0};            // LINEAR for both
  b.mods[1] = drm_format_modifier{0b01, 0, {}, (1ull << 56) | 1};  // a tiled layout for XR24 only
  std::vector<uint8_t> bytes(sizeof b);
  std::memcpy(bytes.data(), &b, sizeof b);
  const auto pairs = parse_in_formats(bytes);
  const std::vector<std::pair<uint32_t, uint64_t>> want = {
      {0x34325258, 0}, {0x34325258, (1ull << 56) | 1}, {0x34325241, 0}};
  EXPECT_EQ(pairs, want);
  // A blob whose arrays run past its end is refused, not walked.
  b.h.count_modifiers = 1000;
  std::memcpy(bytes.data(), &b, sizeof b);
  EXPECT_TRUE(parse_in_formats(bytes).empty());
  bytes.resize(4);
  EXPECT_TRUE(parse_in_formats(bytes).empty());
}

}  // namespace
}  // namespace zc::test
