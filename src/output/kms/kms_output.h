// The KMS output: shows each frame on a real display through the kernel's
// mode-setting API (KMS), scanning the client's own buffer out when the
// display can read it, and saying why not when it cannot.
//
// One frame's path:
//   present()   client dma-buf -> framebuffer (imported once per buffer) ->
//               atomic TEST_ONLY: can the primary plane show it as it is?
//                 yes: it goes on the plane itself (0 copies)
//                 no:  the CPU copies it into a dumb buffer of ours
//                      (1 copy, with the reason recorded for that frame),
//                      once the buffer's render fence has signalled: the
//                      event loop waits for it (kms/fence.h), never the
//                      CPU's DMA_BUF_IOCTL_SYNC
//   commit      NONBLOCK | PAGE_FLIP_EVENT, at most one in flight
//   flip event  the frame is on screen: presented(), the previous one
//               released(), vblank() for frame callbacks, next commit
#pragma once

#include <wayland-server-core.h>
#include <xf86drmMode.h>

#include <functional>
#include <memory>
#include <string>

#include "buffer/sync_file.h"
#include "common/result.h"
#include "output/kms/device.h"
#include "output/kms/modes.h"
#include "output/output.h"

namespace zc::output {

class DriverReader;  // output/read_back.h

struct KmsConfig {
  std::string device;  // "" = the first card with a connected connector
  std::string mode;    // "" = the connector's preferred mode; "WxH" or "WxH@Hz"
  bool atomic = true;  // false: legacy drmModeSetCrtc + drmModePageFlip
  bool verify = false; // checksum what was shown, after each flip
  // How a dma-buf's render fence becomes a sync_file (empty: the kernel's
  // DMA_BUF_IOCTL_EXPORT_SYNC_FILE). The unit tests hand out fds they control.
  buffer::SyncFileExporter export_fence;
  // How the fences of a buffer's distinct objects become one sync_file
  // (empty: the kernel's SYNC_IOC_MERGE). The unit tests merge their own.
  buffer::SyncFileMerger merge_fences;
  // --verify's reader of client dma-bufs through their driver (empty: GBM
  // on this device, made at the first frame that needs it; a null result:
  // no driver, read by mmap). The unit tests stand in for GBM here.
  std::function<std::unique_ptr<DriverReader>()> verify_reader;
};

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, const KmsConfig& config);
// On a device that is already open (the unit tests pass a fake kms::Drm).
Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, std::shared_ptr<kms::Device> device,
                                           const KmsConfig& config);

}  // namespace zc::output
