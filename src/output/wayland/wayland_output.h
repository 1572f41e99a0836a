// The nested output: zcpipe's display is a fullscreen window on another
// Wayland compositor (the "parent": a desktop session, Weston, or another
// zcpipe-compositor). This is what Weston's and wlroots' wayland backends,
// gamescope and cage-in-a-session do, and it is how a frame crosses several
// compositors ("hops") on its way to the screen.
//
// What crosses each hop:
//   a client's dmabuf   forwarded to the parent as the very same buffer: a
//                       zwp_linux_buffer_params_v1 made from the client's fds
//                       once per client buffer, then attached as often as the
//                       client commits it. 0 bytes copied at this hop.
//   shm / socket frames the server already copied them into one of its own
//                       scanout buffers (memfds from scanout_allocator());
//                       each of those is shared with the parent once, as a
//                       wl_shm pool. That copy is this hop's one CPU copy.
//
// Release and presentation feedback travel back down: a frame is reported
// released (the client may reuse its buffer) only once the parent released
// the wl_buffer it was forwarded as, and presented when the parent's
// wp_presentation feedback says so, ZERO_COPY only if this hop forwarded the
// client's own buffer and the parent reported ZERO_COPY too.
#pragma once

#include <sys/types.h>
#include <wayland-server-core.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "output/output.h"

namespace zc::output {

struct WaylandConfig {
  // The parent's socket: a name in $XDG_RUNTIME_DIR or an absolute path.
  std::string parent;
  // The window's size when the parent leaves it to us (a configure of 0x0).
  uint32_t width = 3840, height = 2160;
  std::optional<dev_t> device;  // a DRM device to advertise in dmabuf feedback
  // The parent went away (crashed, was stopped, or closed our window): the
  // nested compositor cannot show anything any more and should stop. Called
  // once, from the event loop, with one line saying what happened.
  std::function<void(const std::string& why)> lost;
};

Result<std::unique_ptr<Output>> create_wayland(wl_event_loop* loop, const WaylandConfig& config);

}  // namespace zc::output
