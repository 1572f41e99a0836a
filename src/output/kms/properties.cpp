#include "output/kms/properties.h"

#include <fmt/core.h>
#include <xf86drmMode.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace zc::output::kms {
namespace {

constexpr std::array<const char*, prop_count<ConnectorProp>()> kConnectorNames = {"CRTC_ID"};
constexpr std::array<const char*, prop_count<CrtcProp>()> kCrtcNames = {"MODE_ID", "ACTIVE", "OUT_FENCE_PTR"};
constexpr std::array<const char*, prop_count<PlaneProp>()> kPlaneNames = {
    "type",   "FB_ID",  "CRTC_ID", "SRC_X",  "SRC_Y",  "SRC_W",
    "SRC_H",  "CRTC_X", "CRTC_Y",  "CRTC_W", "CRTC_H", "IN_FORMATS",
    "IN_FENCE_FD"};

template <typename E, size_t N>
Result<PropertyTable<E>> resolve(Drm& drm, uint32_t object, uint32_t type, const std::array<const char*, N>& names,
                                 const char* what) {
  std::vector<Property> props;
  if (const int err = drm.properties(object, type, props); err != 0)
    return Error{err, fmt::format("cannot read the properties of {} {}", what, object)};
  PropertyTable<E> t;
  t.object = object;
  for (const Property& p : props)
    for (size_t i = 0; i < N; ++i)
      if (p.name == std::string_view(names[i])) {
        t.ids[i] = p.id;
        t.values[i] = p.value;
      }
  return t;
}

}  // namespace

const char* prop_name(ConnectorProp p) { return kConnectorNames[static_cast<size_t>(p)]; }
const char* prop_name(CrtcProp p) { return kCrtcNames[static_cast<size_t>(p)]; }
const char* prop_name(PlaneProp p) { return kPlaneNames[static_cast<size_t>(p)]; }

Result<PropertyTable<ConnectorProp>> resolve_connector(Drm& drm, uint32_t id) {
  return resolve<ConnectorProp>(drm, id, DRM_MODE_OBJECT_CONNECTOR, kConnectorNames, "connector");
}
Result<PropertyTable<CrtcProp>> resolve_crtc(Drm& drm, uint32_t id) {
  return resolve<CrtcProp>(drm, id, DRM_MODE_OBJECT_CRTC, kCrtcNames, "CRTC");
}
Result<PropertyTable<PlaneProp>> resolve_plane(Drm& drm, uint32_t id) {
  return resolve<PlaneProp>(drm, id, DRM_MODE_OBJECT_PLANE, kPlaneNames, "plane");
}

std::vector<std::pair<uint32_t, uint64_t>> parse_in_formats(const std::vector<uint8_t>& bytes) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  // Layout: a header, an array of fourccs, and an array of entries, each a
  // modifier plus a 64-bit mask saying which of (a window of 64 of) those
  // formats it applies to. The kernel wrote it; still, check the arrays lie
  // inside the blob before libdrm's iterator walks them.
  drm_format_modifier_blob h{};
  if (bytes.size() < sizeof h) return out;
  std::memcpy(&h, bytes.data(), sizeof h);
  const uint64_t fmt_end = uint64_t{h.formats_offset} + uint64_t{h.count_formats} * sizeof(uint32_t);
  const uint64_t mod_end = uint64_t{h.modifiers_offset} + uint64_t{h.count_modifiers} * sizeof(drm_format_modifier);
  if (h.version != FORMAT_BLOB_CURRENT || fmt_end > bytes.size() || mod_end > bytes.size()) return out;
  drmModePropertyBlobRes blob{};
  blob.length = static_cast<uint32_t>(bytes.size());
  blob.data = const_cast<uint8_t*>(bytes.data());
  drmModeFormatModifierIterator it{};
  while (drmModeFormatModifierBlobIterNext(&blob, &it)) out.emplace_back(it.fmt, it.mod);
  return out;
}

std::string missing_for_atomic(const PropertyTable<ConnectorProp>& c, const PropertyTable<CrtcProp>& crtc,
                               const PropertyTable<PlaneProp>& plane) {
  if (!c.has(ConnectorProp::crtc_id)) return fmt::format("connector {} has no CRTC_ID", c.object);
  for (auto p : {CrtcProp::mode_id, CrtcProp::active})
    if (!crtc.has(p)) return fmt::format("CRTC {} has no {}", crtc.object, prop_name(p));
  for (size_t i = 0; i < prop_count<PlaneProp>(); ++i) {
    const auto p = static_cast<PlaneProp>(i);
    // Optional: without IN_FORMATS, the plane's format list; without
    // IN_FENCE_FD, the output waits for fences itself.
    if (p == PlaneProp::in_formats || p == PlaneProp::in_fence_fd) continue;
    if (!plane.has(p)) return fmt::format("plane {} has no {}", plane.object, prop_name(p));
  }
  return {};
}

}  // namespace zc::output::kms
