#include "output/kms/pipeline.h"

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "output/kms/copy.h"
#include "output/kms/modes.h"
#include "output/kms/properties.h"

namespace zc::output::kms {

std::string connector_name(const ConnectorInfo& c) {
  const char* type = drmModeGetConnectorTypeName(c.type);
  return fmt::format("{}-{}", type != nullptr ? type : "Unknown", c.type_id);
}

Result<Pipeline> choose_pipeline(Drm& drm, const Caps& caps, const std::string& path, const std::string& mode_request,
                                 bool need_plane) {
  Pipeline out;
  Resources res;
  if (const int err = drm.resources(res); err != 0)
    return Error{0, fmt::format("{}: not a display device: drmModeGetResources: {}", path, std::strerror(err))};

  // Connector: the first connected one (a display is plugged in).
  ConnectorInfo conn;
  for (uint32_t id : res.connectors) {
    ConnectorInfo c;
    if (drm.connector(id, c) == 0 && c.connected && !c.modes.empty()) {
      conn = c;
      break;
    }
  }
  if (conn.id == 0)
    return Error{0, fmt::format("{}: no connected connector (is a display plugged in?) — use --output headless", path)};
  out.connector_id = conn.id;
  out.connector_name = connector_name(conn);
  auto m = pick_mode(conn.modes, mode_request, out.connector_name);
  if (!m) return m.error();
  out.mode = *m;

  // CRTC: the one already driving this connector, else the first one an
  // encoder of the connector can be fed by (possible_crtcs is a bit mask
  // over the resources' CRTC list).
  auto index_of = [&res](uint32_t crtc) -> int {
    for (size_t i = 0; i < res.crtcs.size(); ++i)
      if (res.crtcs[i] == crtc) return static_cast<int>(i);
    return -1;
  };
  if (conn.encoder_id != 0) {
    EncoderInfo e;
    if (drm.encoder(conn.encoder_id, e) == 0 && e.crtc_id != 0 && index_of(e.crtc_id) >= 0) out.crtc_id = e.crtc_id;
  }
  for (size_t k = 0; out.crtc_id == 0 && k < conn.encoders.size(); ++k) {
    EncoderInfo e;
    if (drm.encoder(conn.encoders[k], e) != 0) continue;
    for (size_t i = 0; i < res.crtcs.size() && i < 32; ++i)
      if ((e.possible_crtcs & (1u << i)) != 0) {
        out.crtc_id = res.crtcs[i];
        break;
      }
  }
  if (out.crtc_id == 0) return Error{0, fmt::format("{}: no CRTC can drive connector {}", path, out.connector_name)};
  out.crtc_index = static_cast<uint32_t>(index_of(out.crtc_id));

  // Primary plane of that CRTC: the layer that covers the whole screen.
  // Prefer the one already on this CRTC (a driver may share planes).
  std::vector<uint32_t> planes;
  if (caps.universal_planes && drm.plane_ids(planes) == 0) {
    for (uint32_t id : planes) {
      PlaneInfo p;
      if (drm.plane(id, p) != 0 || (p.possible_crtcs & (1u << out.crtc_index)) == 0) continue;
      auto props = resolve_plane(drm, id);
      if (!props || props->value(PlaneProp::type) != DRM_PLANE_TYPE_PRIMARY) continue;
      if (out.plane_id == 0 || p.crtc_id == out.crtc_id) {
        out.plane_id = id;
        out.plane_formats = p.formats;
        out.in_formats_blob =
            props->has(PlaneProp::in_formats) ? static_cast<uint32_t>(props->value(PlaneProp::in_formats)) : 0;
      }
    }
  }
  if (out.plane_id == 0) {
    if (need_plane) return Error{0, fmt::format("{}: CRTC {} has no primary plane", path, out.crtc_id)};
    // Legacy without universal planes: the primary plane is implicit and
    // XRGB8888 is the one format every KMS driver scans out.
    out.plane_formats = {DRM_FORMAT_XRGB8888};
  }
  return out;
}

std::vector<std::pair<uint32_t, uint64_t>> scanout_formats(Drm& drm, const Pipeline& p) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  if (p.in_formats_blob != 0) {
    std::vector<uint8_t> blob;
    if (drm.get_blob(p.in_formats_blob, blob) == 0) out = parse_in_formats(blob);
  }
  if (out.empty()) {
    // No IN_FORMATS: the plane takes linear or implicit-layout buffers only.
    for (uint32_t f : p.plane_formats) {
      out.emplace_back(f, DRM_FORMAT_MOD_LINEAR);
      out.emplace_back(f, DRM_FORMAT_MOD_INVALID);
    }
  } else {
    // An implicit-layout buffer (INVALID) still goes through plain AddFB2.
    for (uint32_t f : p.plane_formats)
      if (std::find(out.begin(), out.end(), std::pair<uint32_t, uint64_t>(f, DRM_FORMAT_MOD_INVALID)) == out.end())
        out.emplace_back(f, DRM_FORMAT_MOD_INVALID);
  }
  return out;
}

std::vector<std::pair<uint32_t, uint64_t>> importable_formats(const std::vector<std::pair<uint32_t, uint64_t>>& scanout,
                                                              const std::vector<uint32_t>& plane_formats,
                                                              bool addfb2_modifiers) {
  auto out = scanout;
  for (uint32_t f : copy_formats()) {
    if (std::find(plane_formats.begin(), plane_formats.end(), f) != plane_formats.end()) continue;
    out.emplace_back(f, DRM_FORMAT_MOD_LINEAR);
    if (!addfb2_modifiers) out.emplace_back(f, DRM_FORMAT_MOD_INVALID);
  }
  return out;
}

}  // namespace zc::output::kms
