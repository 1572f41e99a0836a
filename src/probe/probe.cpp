// The KMS half of zcpipe-probe: driver, capabilities, connectors, CRTCs, planes.
//
// Everything here is a read-only query, with two exceptions that only touch
// this process's own state: client caps (atomic, universal planes) are set on
// our file description, and becoming DRM master happens implicitly on open
// when no one else holds it.
//
// The queries go through kms::Drm (output/kms/drm.h), the same seam the KMS
// output uses: one place turns libdrm's malloc'ed structs into plain values
// (drm_translate.cpp), and probe_drm() runs in the unit tests on the fake
// device as it runs on a real one.
#include "probe/probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "common/unique_fd.h"
#include "output/kms/drm.h"
#include "output/kms/pipeline.h"
#include "output/kms/properties.h"

namespace zc::probe {
namespace {

using output::kms::Drm;

std::vector<uint32_t> bits_to_indices(uint32_t mask) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < 32; ++i)
    if ((mask & (1u << i)) != 0) out.push_back(i);
  return out;
}

Mode to_mode(const drmModeModeInfo& m) {
  return Mode{m.name, m.hdisplay, m.vdisplay, m.vrefresh, (m.type & DRM_MODE_TYPE_PREFERRED) != 0};
}

void probe_caps(Drm& drm, Caps& caps) {
  auto cap = [&drm](uint64_t c, uint64_t& value) {
    value = 0;
    return drm.get_cap(c, value) == 0;
  };
  uint64_t v = 0;
  caps.dumb_buffer = cap(DRM_CAP_DUMB_BUFFER, v) && v != 0;
  if (cap(DRM_CAP_DUMB_PREFERRED_DEPTH, v)) caps.dumb_preferred_depth = v;
  caps.dumb_prefer_shadow = cap(DRM_CAP_DUMB_PREFER_SHADOW, v) && v != 0;
  if (cap(DRM_CAP_PRIME, v)) {
    caps.prime_import = (v & DRM_PRIME_CAP_IMPORT) != 0;
    caps.prime_export = (v & DRM_PRIME_CAP_EXPORT) != 0;
  }
  caps.addfb2_modifiers = cap(DRM_CAP_ADDFB2_MODIFIERS, v) && v != 0;
  caps.async_page_flip = cap(DRM_CAP_ASYNC_PAGE_FLIP, v) && v != 0;
  caps.syncobj = cap(DRM_CAP_SYNCOBJ, v) && v != 0;
  caps.syncobj_timeline = cap(DRM_CAP_SYNCOBJ_TIMELINE, v) && v != 0;
  caps.timestamp_monotonic = cap(DRM_CAP_TIMESTAMP_MONOTONIC, v) && v != 0;
  caps.crtc_in_vblank_event = cap(DRM_CAP_CRTC_IN_VBLANK_EVENT, v) && v != 0;
  if (cap(DRM_CAP_CURSOR_WIDTH, v)) caps.cursor_width = v;
  if (cap(DRM_CAP_CURSOR_HEIGHT, v)) caps.cursor_height = v;
  // Universal planes first: without it the kernel hides primary and cursor
  // planes from the plane list (legacy clients would not know what to do).
  caps.universal_planes = drm.set_client_cap(DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) == 0;
  caps.atomic = drm.set_client_cap(DRM_CLIENT_CAP_ATOMIC, 1) == 0;
}

// The first CRTC's vblank counter, as the KMS output asks it at start: a
// driver without vblank interrupts (virtio-gpu) answers EOPNOTSUPP.
Vblank probe_vblank(Drm& drm, const std::vector<Crtc>& crtcs) {
  Vblank out;
  if (crtcs.empty()) return out;
  uint64_t seq = 0, ns = 0;
  out.error = drm.crtc_sequence(crtcs.front().id, seq, ns);
  if (out.error == 0) out.supported = true;
  // EOPNOTSUPP: the driver has no vblank support at all. EINVAL: the CRTC
  // is off right now, which says nothing about the hardware.
  else if (out.error == EOPNOTSUPP) out.supported = false;
  return out;
}

void probe_connectors(Drm& drm, const output::kms::Resources& res, DeviceReport& r) {
  for (uint32_t id : res.connectors) {
    output::kms::ConnectorInfo c;
    if (drm.connector(id, c) != 0) continue;
    Connector out;
    out.id = c.id;
    out.name = output::kms::connector_name(c);
    out.status = c.connection == DRM_MODE_CONNECTED      ? "connected"
                 : c.connection == DRM_MODE_DISCONNECTED ? "disconnected"
                                                         : "unknown";
    out.mm_width = c.mm_width;
    out.mm_height = c.mm_height;
    uint32_t possible = 0;
    for (uint32_t e : c.encoders) {
      output::kms::EncoderInfo enc;
      if (drm.encoder(e, enc) != 0) continue;
      possible |= enc.possible_crtcs;
      if (enc.id == c.encoder_id) out.crtc_id = enc.crtc_id;
    }
    out.possible_crtcs = bits_to_indices(possible);
    for (const auto& m : c.modes) out.modes.push_back(to_mode(m));
    r.connectors.push_back(std::move(out));
  }
}

void probe_crtcs(Drm& drm, const output::kms::Resources& res, DeviceReport& r) {
  for (size_t i = 0; i < res.crtcs.size(); ++i) {
    output::kms::CrtcInfo c;
    if (drm.crtc(res.crtcs[i], c) != 0) continue;
    Crtc out;
    out.id = c.id;
    out.index = static_cast<uint32_t>(i);
    out.fb_id = c.fb_id;
    if (c.mode_valid) out.mode = to_mode(c.mode);
    r.crtcs.push_back(std::move(out));
  }
}

void probe_planes(Drm& drm, DeviceReport& r) {
  std::vector<uint32_t> ids;
  if (drm.plane_ids(ids) != 0) return;
  for (uint32_t id : ids) {
    output::kms::PlaneInfo p;
    if (drm.plane(id, p) != 0) continue;
    Plane out;
    out.id = p.id;
    out.crtc_id = p.crtc_id;
    out.fb_id = p.fb_id;
    out.possible_crtcs = bits_to_indices(p.possible_crtcs);
    out.formats = p.formats;
    out.type = "overlay";  // what a plane is when it has no "type" property
    std::vector<output::kms::Property> props;
    if (drm.properties(id, DRM_MODE_OBJECT_PLANE, props) != 0) props.clear();
    for (const auto& prop : props) {
      if (prop.name == "type") {
        out.type = prop.value == DRM_PLANE_TYPE_PRIMARY  ? "primary"
                   : prop.value == DRM_PLANE_TYPE_CURSOR ? "cursor"
                                                         : "overlay";
      } else if (prop.name == "IN_FORMATS") {
        // A table of formats x modifiers (the same parser the output uses),
        // in format order: grouped here as format -> its modifiers.
        out.has_in_formats = true;
        std::vector<uint8_t> blob;
        if (drm.get_blob(static_cast<uint32_t>(prop.value), blob) != 0) continue;
        for (const auto& [fourcc, mod] : output::kms::parse_in_formats(blob)) {
          if (out.in_formats.empty() || out.in_formats.back().fourcc != fourcc)
            out.in_formats.push_back(FormatModifiers{fourcc, {}});
          out.in_formats.back().modifiers.push_back(mod);
        }
      }
    }
    r.planes.push_back(std::move(out));
  }
}

}  // namespace

Result<void> probe_drm(Drm& drm, DeviceReport& r) {
  // DRM_IOCTL_VERSION answers on any DRM node, and on nothing else.
  output::kms::DriverVersion ver;
  if (const int err = drm.version(ver); err != 0)
    return Error{err, r.path + " is not a DRM device (DRM_IOCTL_VERSION failed)"};
  r.driver = ver.name;
  r.driver_version = ver.version;
  r.driver_description = ver.description;
  // The first process to open a primary node becomes DRM master, unless a
  // compositor or another session already is.
  r.master = drm.is_master();
  probe_caps(drm, r.caps);
  output::kms::Resources res;
  if (const int err = drm.resources(res); err == 0) {
    r.kms = true;
    probe_connectors(drm, res, r);
    probe_crtcs(drm, res, r);
    probe_planes(drm, r);
    r.vblank = probe_vblank(drm, r.crtcs);
  } else {
    r.kms_error = err;  // EOPNOTSUPP: a render node, or a device without a display (vgem)
  }
  return {};
}

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
  switch (drmGetNodeTypeFromFd(fd.get())) {
    case DRM_NODE_PRIMARY: r.node_type = "primary"; break;
    case DRM_NODE_RENDER: r.node_type = "render"; break;
    case DRM_NODE_CONTROL: r.node_type = "control"; break;
    default: r.node_type = "unknown"; break;
  }
  auto drm = output::kms::make_real_drm(std::move(fd));
  if (auto ok = probe_drm(*drm, r); !ok) return ok.error();
  if (options.gbm) r.gbm = check_gbm(drm->fd());
  add_warnings(r);
  return r;
}

}  // namespace zc::probe
