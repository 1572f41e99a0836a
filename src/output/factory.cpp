#include "output/factory.h"

#include <sys/stat.h>
#include <xf86drm.h>

#include "common/log.h"
#include "output/headless.h"
#include "output/kms/kms_output.h"
#include "output/wayland/wayland_output.h"

namespace zc::output {
namespace {

// The first DRM device's render node, if the machine has one: advertised in
// linux-dmabuf feedback so clients allocate on it.
std::optional<dev_t> find_drm_device() {
  drmDevicePtr devs[8] = {};
  const int n = drmGetDevices2(0, devs, 8);
  std::optional<dev_t> found;
  for (int i = 0; i < n && !found; ++i) {
    for (int node : {DRM_NODE_RENDER, DRM_NODE_PRIMARY}) {
      if ((devs[i]->available_nodes & (1 << node)) == 0) continue;
      struct stat st {};
      if (::stat(devs[i]->nodes[node], &st) == 0) {
        found = st.st_rdev;
        break;
      }
    }
  }
  if (n > 0) drmFreeDevices(devs, n);
  return found;
}

}  // namespace

Result<std::unique_ptr<Output>> create_output(wl_event_loop* loop, const OutputOptions& o) {
  if (o.name == "wayland") {
    WaylandConfig wc;
    wc.parent = o.parent;
    wc.width = o.width;
    wc.height = o.height;
    wc.device = find_drm_device();
    wc.lost = o.parent_lost;
    return create_wayland(loop, wc);
  }
  if (o.name == "kms" || o.name == "auto") {
    KmsConfig kc;
    kc.device = o.device;
    kc.mode = o.mode;
    kc.atomic = o.atomic;
    kc.verify = o.verify;
    auto kms = create_kms(loop, kc);
    if (kms || o.name == "kms") return kms;
    // auto: no display we can drive. Say why once, then show frames on a
    // virtual display instead.
    log::info("output auto: headless, because kms is not possible: {}", kms.error().message());
  }
  HeadlessConfig hc;
  hc.width = o.width;
  hc.height = o.height;
  hc.refresh_hz = o.refresh_hz;
  hc.verify = o.verify;
  hc.device = find_drm_device();
  return create_headless(loop, hc);
}

}  // namespace zc::output
