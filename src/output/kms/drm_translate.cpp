#include "output/kms/drm_ptr.h"

namespace zc::output::kms {

int drm_errno(int ret, int saved_errno) {
  if (ret == 0) return 0;
  if (ret < -1) return -ret;
  return saved_errno != 0 ? saved_errno : EIO;
}

DriverVersion to_driver_version(const drmVersion& v) {
  // libdrm's strings carry their lengths (not always NUL-terminated).
  auto str = [](const char* p, int len) { return p != nullptr && len > 0 ? std::string(p, static_cast<size_t>(len)) : std::string(); };
  DriverVersion out;
  out.name = str(v.name, v.name_len);
  out.version = std::to_string(v.version_major) + "." + std::to_string(v.version_minor) + "." +
                std::to_string(v.version_patchlevel);
  out.description = str(v.desc, v.desc_len);
  return out;
}

Resources to_resources(const drmModeRes& r) {
  Resources out;
  // A count with a null array would be a libdrm bug; never walk it.
  if (r.crtcs != nullptr) out.crtcs.assign(r.crtcs, r.crtcs + std::max(0, r.count_crtcs));
  if (r.connectors != nullptr) out.connectors.assign(r.connectors, r.connectors + std::max(0, r.count_connectors));
  if (r.encoders != nullptr) out.encoders.assign(r.encoders, r.encoders + std::max(0, r.count_encoders));
  return out;
}

ConnectorInfo to_connector_info(const drmModeConnector& c) {
  ConnectorInfo out;
  out.id = c.connector_id;
  out.type = c.connector_type;
  out.type_id = c.connector_type_id;
  // DRM_MODE_UNKNOWNCONNECTION counts as not connected: nothing to show on.
  out.connected = c.connection == DRM_MODE_CONNECTED;
  out.connection = c.connection;
  out.mm_width = c.mmWidth;
  out.mm_height = c.mmHeight;
  out.encoder_id = c.encoder_id;
  if (c.encoders != nullptr) out.encoders.assign(c.encoders, c.encoders + std::max(0, c.count_encoders));
  if (c.modes != nullptr) out.modes.assign(c.modes, c.modes + std::max(0, c.count_modes));
  return out;
}

EncoderInfo to_encoder_info(const drmModeEncoder& e) { return EncoderInfo{e.encoder_id, e.crtc_id, e.possible_crtcs}; }

CrtcInfo to_crtc_info(const drmModeCrtc& c) {
  CrtcInfo out;
  out.id = c.crtc_id;
  out.fb_id = c.buffer_id;
  out.x = c.x;
  out.y = c.y;
  out.mode_valid = c.mode_valid != 0;
  out.mode = c.mode;
  return out;
}

PlaneInfo to_plane_info(const drmModePlane& p) {
  PlaneInfo out;
  out.id = p.plane_id;
  out.crtc_id = p.crtc_id;
  out.fb_id = p.fb_id;
  out.possible_crtcs = p.possible_crtcs;
  if (p.formats != nullptr) out.formats.assign(p.formats, p.formats + p.count_formats);
  return out;
}

FlipEvent to_flip_event(unsigned sequence, unsigned sec, unsigned usec, unsigned crtc_id, void* user_data) {
  FlipEvent e;
  e.crtc_id = crtc_id;
  e.sequence = sequence;
  e.time_ns = uint64_t{sec} * 1'000'000'000ull + uint64_t{usec} * 1000ull;
  e.user_data = reinterpret_cast<uintptr_t>(user_data);
  return e;
}

}  // namespace zc::output::kms
