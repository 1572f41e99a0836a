// Choosing the display pipeline: connector -> encoder -> CRTC <- plane.
//
// KMS exposes the display hardware as objects: a connector is the socket a
// monitor is plugged into; a CRTC is a scanout engine that reads pixels from
// memory at the mode's rate; planes are the layers a CRTC blends (the
// primary plane covers the whole screen); an encoder links a CRTC to a
// connector (a legacy object: today it only tells which CRTCs may drive
// which connector). Choosing a pipeline is picking one of each, once, at
// start; the formats the chosen plane takes decide which client buffers can
// go on screen without a copy.
#pragma once

#include <xf86drmMode.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "output/kms/device.h"
#include "output/kms/drm.h"

namespace zc::output::kms {

struct Pipeline {
  uint32_t connector_id = 0;
  std::string connector_name;  // "Virtual-1", "HDMI-A-1"
  uint32_t crtc_id = 0;
  uint32_t crtc_index = 0;  // position in Resources::crtcs (possible_crtcs bit)
  uint32_t plane_id = 0;    // primary plane; 0 = implicit (legacy, no universal planes)
  drmModeModeInfo mode{};
  std::vector<uint32_t> plane_formats;  // fourccs the primary plane takes
  uint32_t in_formats_blob = 0;         // the plane's IN_FORMATS blob, 0 = none
};

// "HDMI-A-1": the name users know a connector by.
std::string connector_name(const ConnectorInfo& c);

// The first connected connector, its mode (`mode_request` as --mode takes
// it; "" = preferred), the CRTC driving it (or one that can) and that
// CRTC's primary plane. `need_plane`: an atomic commit addresses the plane
// by ID, so it must exist; legacy can do without universal planes.
Result<Pipeline> choose_pipeline(Drm& drm, const Caps& caps, const std::string& path, const std::string& mode_request,
                                 bool need_plane);

// The (format, modifier) pairs clients should allocate so the primary plane
// can show their buffers directly (the SCANOUT tranche of linux-dmabuf
// feedback): from IN_FORMATS when the plane has it, else each format as
// LINEAR or implicit (INVALID) layout.
std::vector<std::pair<uint32_t, uint64_t>> scanout_formats(Drm& drm, const Pipeline& p);

// Every pair the output can show at all: `scanout`, plus the formats the
// copy fallback converts (kms/copy.h) that the plane lacks, as LINEAR
// buffers (the CPU can only read a layout it knows). On a device without
// ADDFB2_MODIFIERS (virtio-gpu, vkms, simple display drivers) the implicit
// layout is linear too, so INVALID is offered as well: GL clients allocate
// without modifiers there. A format the plane takes keeps only the plane's
// modifiers: offering it more could lead a client to pick a layout the
// plane refuses.
std::vector<std::pair<uint32_t, uint64_t>> importable_formats(const std::vector<std::pair<uint32_t, uint64_t>>& scanout,
                                                              const std::vector<uint32_t>& plane_formats,
                                                              bool addfb2_modifiers);

}  // namespace zc::output::kms
