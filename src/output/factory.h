// Choosing and creating the output from the command line.
#pragma once

#include <wayland-server-core.h>

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "output/output.h"

namespace zc::output {

struct OutputOptions {
  std::string name = "auto";  // auto | headless | kms | wayland
  // headless
  uint32_t width = 3840, height = 2160;
  uint32_t refresh_hz = 60;
  bool verify = false;
  // kms
  std::string device;  // --device PATH ("" = first card with a connected connector)
  std::string mode;    // --mode WxH[@Hz] ("" = preferred)
  bool atomic = true;  // false = legacy drmModeSetCrtc/PageFlip (--no-atomic)
  // wayland (nested): the parent compositor's socket, and what to do when it
  // goes away (the compositor stops; see output/wayland/wayland_output.h).
  std::string parent;
  std::function<void(const std::string& why)> parent_lost;
};

// auto: kms when a DRM device with a connected connector can be driven,
// otherwise headless (and says why in one line). wayland is never chosen
// automatically: a nested display is asked for by name.
Result<std::unique_ptr<Output>> create_output(wl_event_loop* loop, const OutputOptions& options);

}  // namespace zc::output
