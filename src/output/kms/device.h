// kms::Device: one open DRM node that this process drives as DRM master.
//
// Only one open file at a time may change what a display shows: the DRM
// master. The first process to open a primary node (/dev/dri/cardN) becomes
// master automatically; a compositor started later gets EBUSY from
// drmSetMaster. On a desktop a seat manager (systemd-logind or seatd) opens
// the node for us and hands over an fd that is already master, and takes
// it back when the user switches VT; libseat speaks to either. Without a
// seat manager, root may open the node and become master directly.
#pragma once

#include <sys/types.h>
#include <wayland-server-core.h>

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "output/kms/drm.h"

namespace zc::output::kms {

struct Caps {
  bool atomic = false;            // atomic modesetting accepted (client cap DRM_CLIENT_CAP_ATOMIC)
  bool universal_planes = false;  // primary and cursor planes visible as planes
  bool addfb2_modifiers = false;  // AddFB2 takes explicit modifiers (DRM_CAP_ADDFB2_MODIFIERS)
  bool dumb_buffers = false;      // CPU-drawn scanout buffers (DRM_CAP_DUMB_BUFFER)
  bool prime_import = false;      // dma-buf fd -> GEM handle (DRM_CAP_PRIME & IMPORT)
  bool monotonic_timestamps = false;  // events stamped with CLOCK_MONOTONIC
};

class Session;  // libseat, when built with it

class Device {
 public:
  // Opens `path`, or when empty the first card with a connected connector,
  // and becomes DRM master. `want_atomic` = false keeps to the legacy API.
  // Failures are one line an operator can act on.
  static Result<std::unique_ptr<Device>> open(const std::string& path, wl_event_loop* loop, bool want_atomic);
  // A device that is already open (tests hand in a fake kms::Drm).
  static std::unique_ptr<Device> adopt(std::unique_ptr<Drm> drm, std::string path, dev_t dev, bool want_atomic);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  Drm& drm() { return *drm_; }
  // For objects that must be able to reach the device for as long as they
  // live (a framebuffer's RmFB), whoever destroys them last.
  std::shared_ptr<Drm> drm_ptr() const { return drm_; }
  const Caps& caps() const { return caps_; }
  const std::string& path() const { return path_; }
  dev_t dev() const { return dev_; }
  // "libseat (seatd)" or "direct (root)": how the device was obtained.
  const std::string& access() const { return access_; }

  // The seat manager takes the device away (VT switch) and gives it back.
  // While paused the output must not touch the display.
  void set_session_handlers(std::function<void()> on_pause, std::function<void()> on_resume);

 private:
  Device() = default;
  void probe_caps(bool want_atomic);

  std::unique_ptr<Session> session_;  // destroyed after drm_ (declared first)
  int session_device_id_ = -1;
  std::shared_ptr<Drm> drm_;  // framebuffers hold it too (framebuffer.h)
  Caps caps_;
  std::string path_;
  std::string access_;
  dev_t dev_ = 0;
};

}  // namespace zc::output::kms
