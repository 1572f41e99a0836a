// zcpipe-probe: what a DRM device can do, collected into plain data.
//
// probe_device() asks the kernel (libdrm ioctls) and Mesa's GBM, and records
// answers and errors; it never decides what to print. report.cpp turns a
// DeviceReport into teaching text or JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace zc::output::kms {
class Drm;
}

namespace zc::probe {

struct Mode {
  std::string name;        // "3840x2160"
  uint32_t width = 0, height = 0;
  uint32_t refresh = 0;    // Hz (vrefresh)
  bool preferred = false;  // DRM_MODE_TYPE_PREFERRED: the sink's native mode
};

struct Connector {
  uint32_t id = 0;
  std::string name;        // "Virtual-1", "HDMI-A-1"
  std::string status;      // connected | disconnected | unknown
  uint32_t mm_width = 0, mm_height = 0;
  uint32_t crtc_id = 0;    // CRTC currently driving it (through its encoder), 0 = none
  std::vector<uint32_t> possible_crtcs;  // CRTC indices any of its encoders can use
  std::vector<Mode> modes;
};

struct Crtc {
  uint32_t id = 0;
  uint32_t index = 0;      // position in the resources list: the bit in possible_crtcs
  uint32_t fb_id = 0;      // framebuffer being scanned out, 0 = none
  std::optional<Mode> mode;  // set when the CRTC is active
};

struct FormatModifiers {
  uint32_t fourcc = 0;
  std::vector<uint64_t> modifiers;
};

struct Plane {
  uint32_t id = 0;
  std::string type;        // primary | overlay | cursor
  std::vector<uint32_t> possible_crtcs;  // CRTC indices
  uint32_t crtc_id = 0, fb_id = 0;
  std::vector<uint32_t> formats;         // from drmModeGetPlane
  bool has_in_formats = false;           // IN_FORMATS property present
  std::vector<FormatModifiers> in_formats;  // its format -> modifiers table
};

struct Caps {
  bool atomic = false;             // DRM_CLIENT_CAP_ATOMIC accepted
  bool universal_planes = false;   // DRM_CLIENT_CAP_UNIVERSAL_PLANES accepted
  bool dumb_buffer = false;
  uint64_t dumb_preferred_depth = 0;
  bool dumb_prefer_shadow = false;
  bool prime_import = false, prime_export = false;
  bool addfb2_modifiers = false;
  bool async_page_flip = false;
  bool syncobj = false, syncobj_timeline = false;
  bool timestamp_monotonic = false;
  bool crtc_in_vblank_event = false;
  uint64_t cursor_width = 0, cursor_height = 0;
};

// drmWaitVBlank on the first CRTC: does the device deliver vblank interrupts?
struct Vblank {
  std::optional<bool> supported;   // unset when the answer is unknown
  int error = 0;                   // errno of the failed query
};

// A 3840x2160 XRGB8888 SCANOUT|LINEAR buffer from GBM, exported the way
// zcpipe's client does it, and registered as a framebuffer the way the
// compositor does it: the whole zero-copy path on one device.
struct GbmCheck {
  bool checked = false;            // false with --no-gbm
  bool device = false;             // gbm_create_device worked
  std::string backend;             // gbm_device_get_backend_name
  bool allocated = false;
  uint32_t width = 3840, height = 2160;
  uint32_t stride = 0;
  uint64_t modifier = 0;
  bool exported = false;           // drmPrimeHandleToFD(DRM_CLOEXEC | DRM_RDWR)
  bool export_rdwr = false;        // the fd's access mode really is O_RDWR
  bool mmap_write = false;         // mmap(PROT_WRITE) + DMA_BUF_IOCTL_SYNC + write/read back
  bool addfb2 = false;             // drmModeAddFB2 accepted it as a framebuffer
  std::optional<bool> get_fd_readonly;  // gbm_bo_get_fd() on another bo gave O_RDONLY
  std::optional<int> get_fd_mmap_errno; // ...and mmap(PROT_WRITE) on it failed with this
  std::string error;               // first failure, in words
};

struct DeviceReport {
  std::string path;
  std::string node_type;           // primary | render | control
  std::string driver, driver_version, driver_description;
  bool master = false;             // this process may modeset (DRM master)
  Caps caps;
  Vblank vblank;
  bool kms = false;                // drmModeGetResources worked
  int kms_error = 0;               // ...or its errno
  std::vector<Connector> connectors;
  std::vector<Crtc> crtcs;
  std::vector<Plane> planes;
  GbmCheck gbm;
  std::vector<std::string> warnings;  // known pitfalls found on this device
};

struct Options {
  bool gbm = true;                 // run the GBM allocation checks
};

// Opens `path` read-write and probes it. Errors only when the device cannot
// be opened or is not a DRM device; partial failures are recorded inside.
Result<DeviceReport> probe_device(const std::string& path, const Options& options);

// The KMS queries of probe_device on a device already open (the unit tests
// pass the fake kms::Drm): driver, master, caps, connectors, CRTCs, planes,
// vblank. Errors only when it is not a DRM device (no DRM_IOCTL_VERSION);
// partial failures are recorded in `report`.
Result<void> probe_drm(output::kms::Drm& drm, DeviceReport& report);

// Runs the GBM checks on an open DRM fd (borrowed).
GbmCheck check_gbm(int drm_fd);

// Fills report.warnings from what was found.
void add_warnings(DeviceReport& report);

// The card* nodes in /dev/dri, sorted by number; error text when there are none.
Result<std::vector<std::string>> find_card_nodes(const std::string& dir = "/dev/dri");

}  // namespace zc::probe
