// kms::Properties: the KMS property IDs zcpipe uses, resolved once.
//
// With atomic modesetting everything a display does is a property of a KMS
// object: a plane's FB_ID (which framebuffer), CRTC_ID (which CRTC it feeds),
// SRC_* (the part of the buffer, in 16.16 fixed point) and CRTC_* (where on
// screen, in pixels); a CRTC's MODE_ID (a blob holding the mode) and ACTIVE;
// a connector's CRTC_ID. Property IDs are numbers the driver picks, looked
// up by name. Names are resolved here, once, into enum-indexed tables, so a
// commit never compares strings.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "output/kms/drm.h"

namespace zc::output::kms {

enum class ConnectorProp : uint8_t { crtc_id, count };
// OUT_FENCE_PTR and IN_FENCE_FD are optional (explicit fences, fence.h):
// every atomic driver has them, and a commit that lacks them still works.
enum class CrtcProp : uint8_t { mode_id, active, out_fence_ptr, count };
enum class PlaneProp : uint8_t {
  type, fb_id, crtc_id,
  src_x, src_y, src_w, src_h,
  crtc_x, crtc_y, crtc_w, crtc_h,
  in_formats, in_fence_fd,
  count
};

template <typename E>
constexpr size_t prop_count() {
  return static_cast<size_t>(E::count);
}

const char* prop_name(ConnectorProp p);
const char* prop_name(CrtcProp p);
const char* prop_name(PlaneProp p);

// The properties of one KMS object: ID (0 = the object lacks it) and the
// value it had when resolved.
template <typename E>
struct PropertyTable {
  uint32_t object = 0;
  std::array<uint32_t, prop_count<E>()> ids{};
  std::array<uint64_t, prop_count<E>()> values{};

  bool has(E p) const { return ids[static_cast<size_t>(p)] != 0; }
  uint32_t id(E p) const { return ids[static_cast<size_t>(p)]; }
  uint64_t value(E p) const { return values[static_cast<size_t>(p)]; }
};

// Reads every property of `object` (DRM_MODE_OBJECT_CONNECTOR/CRTC/PLANE) and
// keeps those zcpipe knows.
Result<PropertyTable<ConnectorProp>> resolve_connector(Drm& drm, uint32_t id);
Result<PropertyTable<CrtcProp>> resolve_crtc(Drm& drm, uint32_t id);
Result<PropertyTable<PlaneProp>> resolve_plane(Drm& drm, uint32_t id);

// The (format, modifier) pairs of an IN_FORMATS blob (struct
// drm_format_modifier_blob): which layouts the plane can scan out, per
// format. Empty if the blob is malformed.
std::vector<std::pair<uint32_t, uint64_t>> parse_in_formats(const std::vector<uint8_t>& blob);

// The first property an atomic commit needs that the object lacks, or "".
std::string missing_for_atomic(const PropertyTable<ConnectorProp>& c, const PropertyTable<CrtcProp>& crtc,
                               const PropertyTable<PlaneProp>& plane);

}  // namespace zc::output::kms
