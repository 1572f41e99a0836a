// Choosing and creating the output from the command line.
#pragma once

#include <wayland-server-core.h>

#include <memory>
#include <string>

#include "common/result.h"
#include "output/output.h"

namespace zc::output {

struct OutputOptions {
  std::string name = "auto";  // auto | headless | kms
  // headless
  uint32_t width = 3840, height = 2160;
  uint32_t refresh_hz = 60;
  bool verify = false;
  // kms
  std::string device;  // --device PATH ("" = first card with a connected connector)
  std::string mode;    // --mode WxH[@Hz] ("" = preferred)
  bool atomic = true;  // false = legacy drmModeSetCrtc/PageFlip (--no-atomic)
};

// auto: kms when a DRM device with a connected connector can be driven,
// otherwise headless (and says why in one line).
Result<std::unique_ptr<Output>> create_output(wl_event_loop* loop, const OutputOptions& options);

}  // namespace zc::output
