// The headless output: a virtual display with a fixed refresh rate (or none),
// for machines without a DRM device. It "scans out" by holding a reference to
// the buffer; presenting never copies. With verify on, it reads the shown
// frame once to checksum it, standing in for a display CRC.
#pragma once

#include <wayland-server-core.h>

#include <memory>

#include "common/result.h"
#include "output/output.h"

namespace zc::output {

struct HeadlessConfig {
  uint32_t width = 3840;
  uint32_t height = 2160;
  uint32_t refresh_hz = 60;  // 0 = unpaced: present as soon as a frame is committed
  bool verify = false;
  std::optional<dev_t> device;  // a DRM device to advertise in dmabuf feedback
};

Result<std::unique_ptr<Output>> create_headless(wl_event_loop* loop, const HeadlessConfig& config);

}  // namespace zc::output
