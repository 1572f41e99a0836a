// A raw Wayland client for protocol tests: connects to a test compositor's
// socket, binds the globals, and makes buffers out of memfds, so a test can
// send exactly the (possibly wrong) requests it wants.
#pragma once

#include <drm_fourcc.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "xdg-shell-client-protocol.h"

namespace zct {

// A memfd of exactly `size` bytes, standing in for a dma-buf. Sealed against
// shrinking unless `sealed` is false: the compositor refuses unsealed shared
// memory (a client could shrink it under the compositor's mapping).
inline int make_memfd(size_t size, bool sealed = true) {
  const int fd = ::memfd_create("zct-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      (sealed && ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0))
    throw std::runtime_error(std::string("memfd: ") + std::strerror(errno));
  return fd;
}

class Conn {
 public:
  explicit Conn(const std::string& socket_path) {
    // libwayland takes an absolute path as the socket itself (no
    // $XDG_RUNTIME_DIR lookup), and reports a bad or too long one.
    display_ = wl_display_connect(socket_path.c_str());
    if (display_ == nullptr) throw std::runtime_error("connect " + socket_path + ": " + std::strerror(errno));
    registry_ = wl_display_get_registry(display_);
    wl_registry_add_listener(registry_, &kRegistryListener, this);
    if (wl_display_roundtrip(display_) < 0) throw std::runtime_error("registry roundtrip failed");
    if (compositor_ == nullptr || wm_base_ == nullptr || dmabuf_ == nullptr)
      throw std::runtime_error("compositor lacks wl_compositor, xdg_wm_base or zwp_linux_dmabuf_v1");
  }
  ~Conn() {
    // Proxies of a connection in error are still ours to free; libwayland
    // does not free them at disconnect (LeakSanitizer reports each one).
    // Newest first, so objects go before the objects they were made from.
    for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) wl_proxy_destroy(*it);
    if (dmabuf_ != nullptr) zwp_linux_dmabuf_v1_destroy(dmabuf_);
    if (wm_base_ != nullptr) xdg_wm_base_destroy(wm_base_);
    if (compositor_ != nullptr) wl_compositor_destroy(compositor_);
    if (registry_ != nullptr) wl_registry_destroy(registry_);
    wl_display_disconnect(display_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Frees `proxy` with the connection (client-side only: no destroy request
  // is sent, the connection is going away). Returns it, for chaining.
  template <typename T>
  T* own(T* proxy) {
    if (proxy != nullptr) owned_.push_back(reinterpret_cast<wl_proxy*>(proxy));
    return proxy;
  }

  wl_display* display() const { return display_; }
  wl_compositor* compositor() const { return compositor_; }
  xdg_wm_base* wm_base() const { return wm_base_; }
  zwp_linux_dmabuf_v1* dmabuf() const { return dmabuf_; }
  uint32_t dmabuf_version() const { return dmabuf_version_; }

  // Roundtrip; returns wl_display_get_error() (0 when the connection is fine).
  int roundtrip() {
    wl_display_roundtrip(display_);
    return wl_display_get_error(display_);
  }

  struct ProtocolError {
    int error = 0;                        // wl_display_get_error
    const wl_interface* iface = nullptr;  // interface of the object in error
    uint32_t code = 0;
    uint32_t id = 0;
  };
  ProtocolError protocol_error() {
    ProtocolError e;
    e.error = wl_display_get_error(display_);
    if (e.error == EPROTO) e.code = wl_display_get_protocol_error(display_, &e.iface, &e.id);
    return e;
  }

  // A valid XRGB8888 (linear) wl_buffer made with create_immed from a new
  // memfd, or from `fd` (w * h * 4 bytes; still the caller's) when given.
  wl_buffer* make_buffer(int32_t w, int32_t h, int fd = -1) {
    const bool made = fd < 0;
    if (made) fd = make_memfd(static_cast<size_t>(w) * static_cast<size_t>(h) * 4);
    zwp_linux_buffer_params_v1* p = zwp_linux_dmabuf_v1_create_params(dmabuf_);
    zwp_linux_buffer_params_v1_add(p, fd, 0, 0, static_cast<uint32_t>(w) * 4, 0, 0);
    if (made) ::close(fd);  // libwayland duplicated it when it marshalled the request
    wl_buffer* b = zwp_linux_buffer_params_v1_create_immed(p, w, h, DRM_FORMAT_XRGB8888, 0);
    zwp_linux_buffer_params_v1_destroy(p);
    return own(b);
  }

 private:
  static void global(void* data, wl_registry* reg, uint32_t name, const char* iface, uint32_t version) {
    auto* c = static_cast<Conn*>(data);
    const std::string i(iface);
    if (i == wl_compositor_interface.name) {
      c->compositor_ = static_cast<wl_compositor*>(wl_registry_bind(reg, name, &wl_compositor_interface, 4));
    } else if (i == xdg_wm_base_interface.name) {
      c->wm_base_ = static_cast<xdg_wm_base*>(wl_registry_bind(reg, name, &xdg_wm_base_interface, 2));
    } else if (i == zwp_linux_dmabuf_v1_interface.name && version >= 3) {
      // Version 3: formats arrive as modifier events (ignored: the test knows them).
      c->dmabuf_version_ = 3;
      c->dmabuf_ = static_cast<zwp_linux_dmabuf_v1*>(wl_registry_bind(reg, name, &zwp_linux_dmabuf_v1_interface, 3));
    }
  }
  static void global_remove(void*, wl_registry*, uint32_t) {}
  static constexpr wl_registry_listener kRegistryListener = {global, global_remove};

  wl_display* display_ = nullptr;
  wl_registry* registry_ = nullptr;
  wl_compositor* compositor_ = nullptr;
  xdg_wm_base* wm_base_ = nullptr;
  zwp_linux_dmabuf_v1* dmabuf_ = nullptr;
  uint32_t dmabuf_version_ = 0;
  std::vector<wl_proxy*> owned_;
};

// A toplevel. Not copyable: the xdg_surface listener points at it.
struct Window {
  wl_surface* surface = nullptr;
  xdg_surface* xsurface = nullptr;
  xdg_toplevel* toplevel = nullptr;
  uint32_t serial = 0;
  int configures = 0;

  Window() = default;
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Role objects created and the initial (buffer-less) commit sent; after a
  // roundtrip the first configure has arrived, not yet acknowledged.
  // The proxies belong to `c` and are freed with it.
  // `existing`: give the role to a surface the test made (and owns) itself.
  void open(Conn& c, wl_surface* existing = nullptr) {
    surface = existing != nullptr ? existing : c.own(wl_compositor_create_surface(c.compositor()));
    xsurface = c.own(xdg_wm_base_get_xdg_surface(c.wm_base(), surface));
    xdg_surface_add_listener(xsurface, &kListener, this);
    toplevel = c.own(xdg_surface_get_toplevel(xsurface));
    wl_surface_commit(surface);
    if (c.roundtrip() != 0) throw std::runtime_error("setting up the window failed");
    if (configures == 0) throw std::runtime_error("no configure after the initial commit");
  }

 private:
  static void configure(void* data, xdg_surface*, uint32_t s) {
    auto* w = static_cast<Window*>(data);
    w->serial = s;
    w->configures++;
  }
  static constexpr xdg_surface_listener kListener = {configure};
};

}  // namespace zct
