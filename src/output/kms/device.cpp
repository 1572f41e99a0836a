#include "output/kms/device.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/log.h"

#ifdef ZCPIPE_HAVE_LIBSEAT
extern "C" {  // libseat 0.7's header has no C++ guards
#include <libseat.h>
}

#include <cstdarg>
#endif

namespace zc::output::kms {

// ------------------------------------------------------------------ Session
#ifdef ZCPIPE_HAVE_LIBSEAT
// A libseat seat: asks seatd or systemd-logind (whichever runs) for devices,
// so a normal user logged in on a VT can drive the display. The seat manager
// revokes our access when the user switches VT (disable_seat) and returns it
// (enable_seat); the event loop dispatches libseat's fd.
class Session {
 public:
  static std::unique_ptr<Session> open(wl_event_loop* loop, std::string& why_not) {
    libseat_set_log_handler(&on_log);
    libseat_set_log_level(log::level() >= log::Level::debug ? LIBSEAT_LOG_LEVEL_DEBUG : LIBSEAT_LOG_LEVEL_ERROR);
    auto s = std::unique_ptr<Session>(new Session);
    static const libseat_seat_listener kListener = {&enable_seat, &disable_seat};
    s->seat_ = libseat_open_seat(&kListener, s.get());
    if (s->seat_ == nullptr) {
      why_not = fmt::format("no seat manager (seatd or systemd-logind) answered: {}", std::strerror(errno));
      return nullptr;
    }
    // The seat becomes usable with its first enable_seat event.
    for (int i = 0; i < 50 && !s->active_; ++i)
      if (libseat_dispatch(s->seat_, 100) < 0) break;
    if (!s->active_) {
      why_not = "the seat manager did not give us the seat (is this session on the active VT?)";
      return nullptr;
    }
    s->source_ = wl_event_loop_add_fd(loop, libseat_get_fd(s->seat_), WL_EVENT_READABLE, &on_readable, s.get());
    return s;
  }
  ~Session() {
    if (source_ != nullptr) wl_event_source_remove(source_);
    if (seat_ != nullptr) libseat_close_seat(seat_);
  }

  Result<std::pair<UniqueFd, int>> open_device(const std::string& path) {
    int fd = -1;
    const int id = libseat_open_device(seat_, path.c_str(), &fd);
    if (id < 0) return Error::from_errno("libseat_open_device " + path);
    return std::make_pair(UniqueFd{fd}, id);
  }
  void close_device(int id) { libseat_close_device(seat_, id); }
  std::string name() const { return libseat_seat_name(seat_); }

  std::function<void()> on_pause, on_resume;

 private:
  Session() = default;
  static void on_log(libseat_log_level level, const char* format, va_list args) {
    char line[512];
    std::vsnprintf(line, sizeof line, format, args);
    (void)level;  // failures are reported by us, in one line, where they matter
    log::debug("libseat: {}", line);
  }
  static void enable_seat(libseat*, void* data) {
    auto* s = static_cast<Session*>(data);
    const bool was_active = s->active_;
    s->active_ = true;
    if (was_active) return;
    if (s->on_resume) s->on_resume();
  }
  static void disable_seat(libseat* seat, void* data) {
    auto* s = static_cast<Session*>(data);
    s->active_ = false;
    // Stop touching the display first, then acknowledge: after the ack the
    // seat manager drops our DRM master.
    if (s->on_pause) s->on_pause();
    libseat_disable_seat(seat);
  }
  static int on_readable(int, uint32_t, void* data) {
    auto* s = static_cast<Session*>(data);
    if (libseat_dispatch(s->seat_, 0) < 0) log::warn("libseat_dispatch: {}", std::strerror(errno));
    return 0;
  }

  libseat* seat_ = nullptr;
  wl_event_source* source_ = nullptr;
  bool active_ = false;
};
#else
class Session {
 public:
  void close_device(int) {}
  std::function<void()> on_pause, on_resume;
};
#endif

// ------------------------------------------------------------------- Device
namespace {

constexpr const char* kNoDevice =
    "no DRM device found (stat /dev/dri: {}) — use --output headless, or see docs/vm.md for a virtual one";

// Primary nodes (/dev/dri/cardN) of every DRM device: only they can modeset.
std::vector<std::string> card_nodes() {
  std::vector<std::string> nodes;
  drmDevicePtr devs[16] = {};
  const int n = drmGetDevices2(0, devs, 16);
  for (int i = 0; i < n; ++i)
    if ((devs[i]->available_nodes & (1 << DRM_NODE_PRIMARY)) != 0) nodes.emplace_back(devs[i]->nodes[DRM_NODE_PRIMARY]);
  if (n > 0) drmFreeDevices(devs, n);
  return nodes;
}

bool has_connected_connector(Drm& drm) {
  Resources res;
  if (drm.resources(res) != 0) return false;  // not a KMS device (e.g. vgem)
  for (uint32_t id : res.connectors) {
    ConnectorInfo c;
    if (drm.connector(id, c) == 0 && c.connected && !c.modes.empty()) return true;
  }
  return false;
}

std::string open_advice(int err, const std::string& path) {
  if (err == EACCES || err == EPERM)
    return fmt::format("{}: cannot open: {} — run as root, or log in on a VT with a seat manager "
                       "(seatd or systemd-logind) so libseat can open it for you",
                       path, std::strerror(err));
  if (err == ENOENT) return fmt::format("{}: cannot open: {} — list the devices with ls /dev/dri", path, std::strerror(err));
  return fmt::format("{}: cannot open: {}", path, std::strerror(err));
}

}  // namespace

Result<std::unique_ptr<Device>> Device::open(const std::string& requested, wl_event_loop* loop, bool want_atomic) {
  std::vector<std::string> candidates;
  if (!requested.empty()) {
    candidates.push_back(requested);
  } else {
    struct stat st {};
    if (::stat("/dev/dri", &st) != 0) return Error{0, fmt::format(kNoDevice, std::strerror(errno))};
    candidates = card_nodes();
    if (candidates.empty())
      return Error{0, "no DRM device with a display (/dev/dri has no card node) — use --output headless"};
  }

  auto dev = std::unique_ptr<Device>(new Device);
#ifdef ZCPIPE_HAVE_LIBSEAT
  // root can open the node itself; a normal user needs a seat manager.
  if (::geteuid() != 0) {
    std::string why_not;
    dev->session_ = Session::open(loop, why_not);
    if (!dev->session_) log::debug("kms: no libseat session ({}); opening the node directly", why_not);
  }
#else
  (void)loop;
#endif

  std::string last_error;
  for (const std::string& path : candidates) {
    UniqueFd fd;
    int seat_id = -1;
#ifdef ZCPIPE_HAVE_LIBSEAT
    if (dev->session_) {
      auto opened = dev->session_->open_device(path);
      if (!opened) {
        last_error = fmt::format("{}: the seat manager refused it: {}", path, opened.error().message());
        continue;
      }
      fd = std::move(opened->first);
      seat_id = opened->second;
    }
#endif
    if (!fd) {
      fd = UniqueFd{::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY)};
      if (!fd) {
        last_error = open_advice(errno, path);
        continue;
      }
    }
    struct stat st {};
    ::fstat(fd.get(), &st);
    auto drm = make_real_drm(std::move(fd));
    if (drmIsKMS(drm->fd()) == 0) {
      last_error = fmt::format("{}: not a display device (no KMS)", path);
      if (seat_id >= 0) dev->session_->close_device(seat_id);
      continue;
    }
    if (requested.empty() && !has_connected_connector(*drm)) {
      last_error = fmt::format("{}: no connected connector (is a display plugged in?)", path);
      if (seat_id >= 0) dev->session_->close_device(seat_id);
      continue;
    }
    dev->drm_ = std::move(drm);
    dev->session_device_id_ = seat_id;
    dev->path_ = path;
    dev->dev_ = st.st_rdev;
    break;
  }
  if (!dev->drm_) return Error{0, last_error.empty() ? std::string("no DRM device found — use --output headless, or see docs/vm.md for a virtual one") : last_error};

  // The seat manager's fd is master already; a directly opened one is master
  // if nobody else had the node open as master, otherwise we ask for it.
  if (!dev->drm_->is_master()) {
    const int err = dev->drm_->set_master();
    if (err == EBUSY)
      return Error{0, fmt::format("{}: cannot become DRM master: {} — another compositor (or a display manager) "
                                  "is driving it; stop it or use a free VT",
                                  dev->path_, std::strerror(EBUSY))};
    if (err != 0)
      return Error{0, fmt::format("{}: cannot become DRM master: {} — run as root, or through a seat manager "
                                  "(seatd or systemd-logind) from a VT",
                                  dev->path_, std::strerror(err))};
  }
  dev->access_ = dev->session_ ? "libseat" : (::geteuid() == 0 ? "direct (root)" : "direct");
#ifdef ZCPIPE_HAVE_LIBSEAT
  if (dev->session_) dev->access_ = "libseat (seat " + dev->session_->name() + ")";
#endif
  dev->probe_caps(want_atomic);
  return dev;
}

std::unique_ptr<Device> Device::adopt(std::unique_ptr<Drm> drm, std::string path, dev_t devnum, bool want_atomic) {
  auto dev = std::unique_ptr<Device>(new Device);
  dev->drm_ = std::move(drm);
  dev->path_ = std::move(path);
  dev->dev_ = devnum;
  dev->access_ = "adopted";
  dev->probe_caps(want_atomic);
  return dev;
}

Device::~Device() {
  // Tell the seat manager first, then close the fd (as wlroots does).
  if (session_ && session_device_id_ >= 0) session_->close_device(session_device_id_);
  drm_.reset();
}

void Device::set_session_handlers(std::function<void()> on_pause, std::function<void()> on_resume) {
  if (!session_) return;
  session_->on_pause = std::move(on_pause);
  session_->on_resume = std::move(on_resume);
}

void Device::probe_caps(bool want_atomic) {
  Drm& d = *drm_;
  uint64_t v = 0;
  // Without this client cap the kernel hides primary and cursor planes and
  // we could not read the primary plane's formats.
  caps_.universal_planes = d.set_client_cap(DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) == 0;
  // Atomic: one ioctl sets every property of planes, CRTCs and connectors,
  // all or nothing, and can be tested first (TEST_ONLY). Drivers without it
  // refuse the client cap; then the legacy ioctls are all there is.
  caps_.atomic = want_atomic && d.set_client_cap(DRM_CLIENT_CAP_ATOMIC, 1) == 0;
  caps_.addfb2_modifiers = d.get_cap(DRM_CAP_ADDFB2_MODIFIERS, v) == 0 && v != 0;
  caps_.dumb_buffers = d.get_cap(DRM_CAP_DUMB_BUFFER, v) == 0 && v != 0;
  caps_.prime_import = d.get_cap(DRM_CAP_PRIME, v) == 0 && (v & DRM_PRIME_CAP_IMPORT) != 0;
  caps_.monotonic_timestamps = d.get_cap(DRM_CAP_TIMESTAMP_MONOTONIC, v) == 0 && v != 0;
}

}  // namespace zc::output::kms
