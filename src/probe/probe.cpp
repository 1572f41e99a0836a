// The KMS half of zcpipe-probe: driver, capabilities, connectors, CRTCs, planes.
//
// Everything here is a read-only query, with two exceptions that only touch
// this process's own state: client caps (atomic, universal planes) are set on
// our file description, and becoming DRM master happens implicitly on open
// when no one else holds it.
#include "probe/probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "common/unique_fd.h"
#include "output/kms/drm_ptr.h"

namespace zc::probe {
namespace {

// libdrm's malloc'ed structs, freed on every return: the KMS output's own
// wrappers (one header for both users of raw libdrm).
using Version = output::kms::DrmVersionPtr;
using Resources = output::kms::DrmResPtr;
using ConnectorPtr = output::kms::DrmConnectorPtr;
using EncoderPtr = output::kms::DrmEncoderPtr;
using CrtcPtr = output::kms::DrmCrtcPtr;
using PlaneRes = output::kms::DrmPlaneResPtr;
using PlanePtr = output::kms::DrmPlanePtr;
using Props = output::kms::DrmPropsPtr;
using Prop = output::kms::DrmPropPtr;
using Blob = output::kms::DrmBlobPtr;

std::vector<uint32_t> bits_to_indices(uint32_t mask) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < 32; ++i)
    if ((mask & (1u << i)) != 0) out.push_back(i);
  return out;
}

Mode to_mode(const drmModeModeInfo& m) {
  return Mode{m.name, m.hdisplay, m.vdisplay, m.vrefresh, (m.type & DRM_MODE_TYPE_PREFERRED) != 0};
}

bool get_cap(int fd, uint64_t cap, uint64_t& value) {
  value = 0;
  return drmGetCap(fd, cap, &value) == 0;
}

void probe_caps(int fd, Caps& caps) {
  uint64_t v = 0;
  caps.dumb_buffer = get_cap(fd, DRM_CAP_DUMB_BUFFER, v) && v != 0;
  if (get_cap(fd, DRM_CAP_DUMB_PREFERRED_DEPTH, v)) caps.dumb_preferred_depth = v;
  caps.dumb_prefer_shadow = get_cap(fd, DRM_CAP_DUMB_PREFER_SHADOW, v) && v != 0;
  if (get_cap(fd, DRM_CAP_PRIME, v)) {
    caps.prime_import = (v & DRM_PRIME_CAP_IMPORT) != 0;
    caps.prime_export = (v & DRM_PRIME_CAP_EXPORT) != 0;
  }
  caps.addfb2_modifiers = get_cap(fd, DRM_CAP_ADDFB2_MODIFIERS, v) && v != 0;
  caps.async_page_flip = get_cap(fd, DRM_CAP_ASYNC_PAGE_FLIP, v) && v != 0;
  caps.syncobj = get_cap(fd, DRM_CAP_SYNCOBJ, v) && v != 0;
  caps.syncobj_timeline = get_cap(fd, DRM_CAP_SYNCOBJ_TIMELINE, v) && v != 0;
  caps.timestamp_monotonic = get_cap(fd, DRM_CAP_TIMESTAMP_MONOTONIC, v) && v != 0;
  caps.crtc_in_vblank_event = get_cap(fd, DRM_CAP_CRTC_IN_VBLANK_EVENT, v) && v != 0;
  if (get_cap(fd, DRM_CAP_CURSOR_WIDTH, v)) caps.cursor_width = v;
  if (get_cap(fd, DRM_CAP_CURSOR_HEIGHT, v)) caps.cursor_height = v;
  // Universal planes first: without it the kernel hides primary and cursor
  // planes from the plane list (legacy clients would not know what to do).
  caps.universal_planes = drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) == 0;
  caps.atomic = drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) == 0;
}

Vblank probe_vblank(int fd, const std::vector<Crtc>& crtcs) {
  Vblank out;
  if (crtcs.empty()) return out;
  // A relative wait for 0 vblanks returns at once with the current count, if
  // the driver counts vblanks at all. Pipe 0 is selected by type bits 0.
  drmVBlank vbl{};
  vbl.request.type = DRM_VBLANK_RELATIVE;
  vbl.request.sequence = 0;
  if (drmWaitVBlank(fd, &vbl) == 0) {
    out.supported = true;
  } else {
    out.error = errno;
    // EOPNOTSUPP: the driver has no vblank support at all. EINVAL: the CRTC
    // is off right now, which says nothing about the hardware.
    if (out.error == EOPNOTSUPP) out.supported = false;
  }
  return out;
}

void probe_connectors(int fd, const drmModeRes& res, DeviceReport& r) {
  for (int i = 0; i < res.count_connectors; ++i) {
    ConnectorPtr c{drmModeGetConnector(fd, res.connectors[i])};
    if (!c) continue;
    Connector out;
    out.id = c->connector_id;
    const char* type = drmModeGetConnectorTypeName(c->connector_type);
    out.name = std::string(type != nullptr ? type : "Unknown") + "-" + std::to_string(c->connector_type_id);
    out.status = c->connection == DRM_MODE_CONNECTED      ? "connected"
                 : c->connection == DRM_MODE_DISCONNECTED ? "disconnected"
                                                          : "unknown";
    out.mm_width = c->mmWidth;
    out.mm_height = c->mmHeight;
    uint32_t possible = 0;
    for (int e = 0; e < c->count_encoders; ++e) {
      EncoderPtr enc{drmModeGetEncoder(fd, c->encoders[e])};
      if (!enc) continue;
      possible |= enc->possible_crtcs;
      if (enc->encoder_id == c->encoder_id) out.crtc_id = enc->crtc_id;
    }
    out.possible_crtcs = bits_to_indices(possible);
    for (int m = 0; m < c->count_modes; ++m) out.modes.push_back(to_mode(c->modes[m]));
    r.connectors.push_back(std::move(out));
  }
}

void probe_crtcs(int fd, const drmModeRes& res, DeviceReport& r) {
  for (int i = 0; i < res.count_crtcs; ++i) {
    CrtcPtr c{drmModeGetCrtc(fd, res.crtcs[i])};
    if (!c) continue;
    Crtc out;
    out.id = c->crtc_id;
    out.index = static_cast<uint32_t>(i);
    out.fb_id = c->buffer_id;
    if (c->mode_valid != 0) out.mode = to_mode(c->mode);
    r.crtcs.push_back(std::move(out));
  }
}

void read_in_formats(int fd, uint64_t blob_id, Plane& plane) {
  Blob blob{drmModeGetPropertyBlob(fd, static_cast<uint32_t>(blob_id))};
  if (!blob) return;
  // IN_FORMATS is a table of formats x modifiers, each modifier with a
  // bitmask of the formats it applies to; libdrm's iterator walks the pairs
  // in format order.
  drmModeFormatModifierIterator iter{};
  while (drmModeFormatModifierBlobIterNext(blob.get(), &iter)) {
    if (plane.in_formats.empty() || plane.in_formats.back().fourcc != iter.fmt)
      plane.in_formats.push_back(FormatModifiers{iter.fmt, {}});
    plane.in_formats.back().modifiers.push_back(iter.mod);
  }
}

void probe_planes(int fd, DeviceReport& r) {
  PlaneRes res{drmModeGetPlaneResources(fd)};
  if (!res) return;
  for (uint32_t i = 0; i < res->count_planes; ++i) {
    PlanePtr p{drmModeGetPlane(fd, res->planes[i])};
    if (!p) continue;
    Plane out;
    out.id = p->plane_id;
    out.crtc_id = p->crtc_id;
    out.fb_id = p->fb_id;
    out.possible_crtcs = bits_to_indices(p->possible_crtcs);
    out.formats.assign(p->formats, p->formats + p->count_formats);
    out.type = "overlay";  // what a plane is when it has no "type" property
    Props props{drmModeObjectGetProperties(fd, out.id, DRM_MODE_OBJECT_PLANE)};
    for (uint32_t k = 0; props && k < props->count_props; ++k) {
      Prop prop{drmModeGetProperty(fd, props->props[k])};
      if (!prop) continue;
      const std::string name = prop->name;
      if (name == "type") {
        const uint64_t v = props->prop_values[k];
        out.type = v == DRM_PLANE_TYPE_PRIMARY ? "primary" : v == DRM_PLANE_TYPE_CURSOR ? "cursor" : "overlay";
      } else if (name == "IN_FORMATS") {
        out.has_in_formats = true;
        read_in_formats(fd, props->prop_values[k], out);
      }
    }
    r.planes.push_back(std::move(out));
  }
}

}  // namespace

Result<std::vector<std::string>> find_card_nodes(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    if (err == ENOENT) return Error{0, dir + " does not exist"};
    return Error{err, "cannot list " + dir};
  }
  std::vector<std::pair<int, std::string>> cards;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("card", 0) != 0 || name.size() == 4) continue;
    const std::string num = name.substr(4);
    if (!std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    cards.emplace_back(std::stoi(num), dir + "/" + name);
  }
  ::closedir(d);
  if (cards.empty()) return Error{0, "no card* node in " + dir};
  std::sort(cards.begin(), cards.end());
  std::vector<std::string> out;
  for (auto& c : cards) out.push_back(std::move(c.second));
  return out;
}

Result<DeviceReport> probe_device(const std::string& path, const Options& options) {
  UniqueFd fd{::open(path.c_str(), O_RDWR | O_CLOEXEC)};
  if (!fd) return Error::from_errno("cannot open " + path);

  DeviceReport r;
  r.path = path;
  Version ver{drmGetVersion(fd.get())};
  if (!ver) return Error::from_errno(path + " is not a DRM device (DRM_IOCTL_VERSION failed)");
  r.driver = std::string(ver->name, static_cast<size_t>(ver->name_len));
  r.driver_version = std::to_string(ver->version_major) + "." + std::to_string(ver->version_minor) + "." +
                     std::to_string(ver->version_patchlevel);
  r.driver_description = std::string(ver->desc, static_cast<size_t>(ver->desc_len));

  switch (drmGetNodeTypeFromFd(fd.get())) {
    case DRM_NODE_PRIMARY: r.node_type = "primary"; break;
    case DRM_NODE_RENDER: r.node_type = "render"; break;
    case DRM_NODE_CONTROL: r.node_type = "control"; break;
    default: r.node_type = "unknown"; break;
  }
  // The first process to open a primary node becomes DRM master, unless a
  // compositor or another session already is.
  r.master = drmIsMaster(fd.get()) != 0;
  probe_caps(fd.get(), r.caps);

  if (Resources res{drmModeGetResources(fd.get())}) {
    r.kms = true;
    probe_connectors(fd.get(), *res, r);
    probe_crtcs(fd.get(), *res, r);
    probe_planes(fd.get(), r);
    r.vblank = probe_vblank(fd.get(), r.crtcs);
  } else {
    r.kms_error = errno;  // EOPNOTSUPP: a render node, or a device without a display (vgem)
  }
  if (options.gbm) r.gbm = check_gbm(fd.get());
  add_warnings(r);
  return r;
}

}  // namespace zc::probe
