// A hand-written Wayland client for the copying transports' tests: it binds
// wl_compositor, xdg_wm_base, wl_shm, wp_presentation and
// zcpipe_socket_manager_v1, maps a toplevel the way a real client does, and
// then sends exactly the (possibly wrong) requests and bytes a test wants.
//
// The socket baseline's frame header is encoded here from the protocol XML
// (protocol/zcpipe-socket-v1.xml), independently of src/transport, so the
// tests also pin the wire format down.
#pragma once

#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <wayland-client.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "presentation-time-client-protocol.h"
#include "xdg-shell-client-protocol.h"
#include "zcpipe-socket-v1-client-protocol.h"

namespace zcb {

// ------------------------------------------------------------ wire format
constexpr uint32_t kMagic = 0x4650435au;   // "ZCPF" in little-endian memory
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 40;
constexpr uint32_t kXRGB8888 = 0x34325258u;  // DRM fourcc 'XR24'

struct Header {
  uint32_t magic = kMagic;
  uint32_t version = kVersion;
  uint64_t seq = 0;
  uint32_t width = 0, height = 0, stride = 0;
  uint32_t format = kXRGB8888;
  uint64_t byte_count = 0;
};

// A correct header for a WxH XRGB8888 frame with tightly packed rows.
inline Header valid_header(uint32_t w, uint32_t h, uint64_t seq) {
  Header hd;
  hd.seq = seq;
  hd.width = w;
  hd.height = h;
  hd.stride = w * 4;
  hd.byte_count = uint64_t{w} * 4 * h;
  return hd;
}

// All fields little-endian, in the order of the protocol description.
inline std::array<uint8_t, kHeaderBytes> encode(const Header& h) {
  std::array<uint8_t, kHeaderBytes> out{};
  auto put = [&](size_t off, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out[off + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
  };
  put(0, h.magic, 4);
  put(4, h.version, 4);
  put(8, h.seq, 8);
  put(16, h.width, 4);
  put(20, h.height, 4);
  put(24, h.stride, 4);
  put(28, h.format, 4);
  put(32, h.byte_count, 8);
  return out;
}

// Blocking write of everything (the client's end of the data socket blocks).
inline void write_all(int fd, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::write(fd, p + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("write to the data socket: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

inline uint64_t mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000ull + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000ull;
}

// ----------------------------------------------------------------- client
class RawClient {
 public:
  struct ProtocolError {
    int error = 0;              // wl_display_get_error (EPROTO for a protocol error)
    std::string iface;          // interface of the object the error was posted on
    uint32_t code = UINT32_MAX;
    uint32_t id = 0;
  };

  explicit RawClient(const std::string& socket_path) {
    // A compositor that rejected us closes the data socket: a write() then
    // fails with EPIPE instead of killing the test.
    ::signal(SIGPIPE, SIG_IGN);
    // libwayland takes an absolute path as the socket itself (no
    // $XDG_RUNTIME_DIR lookup), and reports a bad or too long one.
    display_ = wl_display_connect(socket_path.c_str());
    if (display_ == nullptr) throw std::runtime_error("connect " + socket_path + ": " + std::strerror(errno));
    registry_ = wl_display_get_registry(display_);
    wl_registry_add_listener(registry_, &kRegistryListener, this);
    if (wl_display_roundtrip(display_) < 0) throw std::runtime_error("registry roundtrip failed");
    if (compositor_ == nullptr || wm_base_ == nullptr || manager_ == nullptr || shm_ == nullptr ||
        presentation_ == nullptr)
      throw std::runtime_error(
          "compositor lacks one of wl_compositor, xdg_wm_base, wl_shm, wp_presentation, zcpipe_socket_manager_v1");
    xdg_wm_base_add_listener(wm_base_, &kWmListener, this);
  }

  ~RawClient() { disconnect(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  wl_display* display() const { return display_; }
  wl_shm* shm() const { return shm_; }
  wl_surface* surface() const { return surface_; }
  zcpipe_socket_manager_v1* manager() const { return manager_; }
  int data_fd() const { return data_fd_; }
  uint32_t presented() const { return presented_; }
  uint32_t discarded() const { return discarded_; }

  // Surface + xdg_toplevel, initial commit, wait for configure, ack it
  // (unless `ack` is false: the configure is then left unacknowledged).
  void make_window(bool ack = true) {
    surface_ = wl_compositor_create_surface(compositor_);
    xsurface_ = xdg_wm_base_get_xdg_surface(wm_base_, surface_);
    xdg_surface_add_listener(xsurface_, &kXdgSurfaceListener, this);
    toplevel_ = xdg_surface_get_toplevel(xsurface_);
    xdg_toplevel_add_listener(toplevel_, &kToplevelListener, this);
    xdg_toplevel_set_title(toplevel_, "zcpipe-baseline-test");
    wl_surface_commit(surface_);
    if (!dispatch_until([this] { return configured_; }, std::chrono::seconds(10)))
      throw std::runtime_error("no xdg_surface.configure: " + describe(error()));
    if (ack) xdg_surface_ack_configure(xsurface_, configure_serial_);
  }
  struct xdg_surface* xsurface() const { return xsurface_; }

  // get_stream; with wait, dispatches until the socket event brought the fd.
  bool get_stream(uint32_t chunk, bool wait = true) {
    if (stream_ != nullptr) replaced_streams_.push_back(stream_);  // a second get_stream (a test's mistake)
    stream_ = zcpipe_socket_manager_v1_get_stream(manager_, surface_, chunk);
    zcpipe_socket_stream_v1_add_listener(stream_, &kStreamListener, this);
    wl_display_flush(display_);
    if (!wait) return true;
    return dispatch_until([this] { return data_fd_ >= 0; }, std::chrono::seconds(10));
  }

  // The header and the first `body` bytes of pixels in one write(): while
  // the socket buffer has room it all arrives before the compositor can
  // react to the header (and close the socket on us).
  void write_header(const Header& h, size_t body = 0, uint8_t value = 0x5a) {
    const auto bytes = encode(h);
    std::vector<uint8_t> buf(bytes.begin(), bytes.end());
    buf.resize(bytes.size() + body, value);
    write_all(data_fd_, buf.data(), buf.size());
  }
  void write_bytes(size_t n, uint8_t value = 0x5a) {
    std::vector<uint8_t> buf(std::min<size_t>(n, 1 << 20), value);
    while (n > 0) {
      const size_t len = std::min(n, buf.size());
      write_all(data_fd_, buf.data(), len);
      n -= len;
    }
  }
  void close_data() {
    if (data_fd_ >= 0) ::close(data_fd_);
    data_fd_ = -1;
  }

  // zcpipe_socket_stream_v1.destroy (the data socket stays ours to close).
  void destroy_stream() {
    if (stream_ != nullptr) zcpipe_socket_stream_v1_destroy(stream_);
    stream_ = nullptr;
  }
  // xdg_toplevel, xdg_surface and wl_surface, in the order xdg-shell requires.
  void destroy_window() {
    if (toplevel_ != nullptr) xdg_toplevel_destroy(toplevel_);
    if (xsurface_ != nullptr) xdg_surface_destroy(xsurface_);
    if (surface_ != nullptr) wl_surface_destroy(surface_);
    toplevel_ = nullptr;
    xsurface_ = nullptr;
    surface_ = nullptr;
  }

  void attach_frame(uint32_t seq) { zcpipe_socket_stream_v1_attach_frame(stream_, seq); }
  // A presentation feedback for the next commit; its fate is counted.
  // `on` defaults to our surface; the hostile suite passes other objects.
  void request_feedback(wl_surface* on = nullptr) {
    struct wp_presentation_feedback* fb = wp_presentation_feedback(presentation_, on != nullptr ? on : surface_);
    wp_presentation_feedback_add_listener(fb, &kFeedbackListener, this);
    feedbacks_.push_back(fb);
  }
  void commit() { wl_surface_commit(surface_); }
  // wl_display_roundtrip: true when the compositor answered (no error yet).
  bool roundtrip() { return wl_display_roundtrip(display_) >= 0; }
  // Returns wl_display_flush's result (-1 with errno once the compositor cut us off).
  int flush() { return wl_display_flush(display_); }

  // Dispatches events until pred() holds (true), or until the connection
  // fails or the deadline passes (false). Never blocks past the deadline.
  bool dispatch_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const uint64_t deadline = mono_ms() + static_cast<uint64_t>(timeout.count());
    for (;;) {
      if (pred()) return true;
      if (wl_display_get_error(display_) != 0) return false;
      if (wl_display_prepare_read(display_) != 0) {
        if (wl_display_dispatch_pending(display_) < 0) return pred();
        continue;
      }
      wl_display_flush(display_);  // may fail once the compositor closed us: reading still works
      const uint64_t now = mono_ms();
      if (now >= deadline) {
        wl_display_cancel_read(display_);
        return pred();
      }
      pollfd p{wl_display_get_fd(display_), POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<uint64_t>(deadline - now, 100)));
      if (r > 0) {
        if (wl_display_read_events(display_) < 0) return pred();
      } else {
        wl_display_cancel_read(display_);
      }
      if (wl_display_dispatch_pending(display_) < 0) return pred();
    }
  }

  ProtocolError error() const {
    ProtocolError e;
    e.error = wl_display_get_error(display_);
    if (e.error == EPROTO) {
      const wl_interface* iface = nullptr;
      e.code = wl_display_get_protocol_error(display_, &iface, &e.id);
      e.iface = iface != nullptr ? iface->name : "";
    }
    return e;
  }

  // Waits for the connection to fail and returns how.
  ProtocolError wait_error(std::chrono::milliseconds timeout) {
    dispatch_until([this] { return wl_display_get_error(display_) != 0; }, timeout);
    return error();
  }

  // Frees every proxy, closes the data socket and the Wayland connection.
  void disconnect() {
    if (display_ == nullptr) return;
    close_data();
    for (auto* fb : feedbacks_) wp_presentation_feedback_destroy(fb);
    feedbacks_.clear();
    if (stream_ != nullptr) zcpipe_socket_stream_v1_destroy(stream_);
    for (auto* st : replaced_streams_) zcpipe_socket_stream_v1_destroy(st);
    replaced_streams_.clear();
    if (toplevel_ != nullptr) xdg_toplevel_destroy(toplevel_);
    if (xsurface_ != nullptr) xdg_surface_destroy(xsurface_);
    if (surface_ != nullptr) wl_surface_destroy(surface_);
    for (auto* b : buffers_) wl_buffer_destroy(b);
    for (auto* p : others_) wl_proxy_destroy(p);
    others_.clear();
    if (presentation_ != nullptr) wp_presentation_destroy(presentation_);
    if (shm_ != nullptr) wl_shm_destroy(shm_);
    if (manager_ != nullptr) zcpipe_socket_manager_v1_destroy(manager_);
    if (wm_base_ != nullptr) xdg_wm_base_destroy(wm_base_);
    if (compositor_ != nullptr) wl_compositor_destroy(compositor_);
    if (registry_ != nullptr) wl_registry_destroy(registry_);
    stream_ = nullptr;
    toplevel_ = nullptr;
    xsurface_ = nullptr;
    surface_ = nullptr;
    buffers_.clear();
    presentation_ = nullptr;
    shm_ = nullptr;
    manager_ = nullptr;
    wm_base_ = nullptr;
    compositor_ = nullptr;
    registry_ = nullptr;
    wl_display_disconnect(display_);
    display_ = nullptr;
  }

  // Objects made by the test, freed at disconnect: libwayland-client does
  // not free a connection's proxies (LeakSanitizer reports each one).
  void own(wl_buffer* b) { buffers_.push_back(b); }
  wl_shm_pool* own_pool(wl_shm_pool* p) {
    if (p != nullptr) others_.push_back(reinterpret_cast<wl_proxy*>(p));
    return p;
  }
  void own_callback(wl_callback* cb) {
    if (cb != nullptr) others_.push_back(reinterpret_cast<wl_proxy*>(cb));
  }

  static std::string describe(const ProtocolError& e) {
    if (e.error == 0) return "no error";
    if (e.error != EPROTO) return std::string("connection error: ") + std::strerror(e.error);
    return "protocol error " + std::to_string(e.code) + " on " + e.iface + "@" + std::to_string(e.id);
  }

 private:
  static void global(void* data, wl_registry* reg, uint32_t name, const char* iface, uint32_t version) {
    auto* c = static_cast<RawClient*>(data);
    const std::string i(iface);
    if (i == wl_compositor_interface.name) {
      c->compositor_ = static_cast<wl_compositor*>(wl_registry_bind(reg, name, &wl_compositor_interface, 4));
    } else if (i == xdg_wm_base_interface.name) {
      c->wm_base_ = static_cast<xdg_wm_base*>(wl_registry_bind(reg, name, &xdg_wm_base_interface, 2));
    } else if (i == wl_shm_interface.name) {
      c->shm_ = static_cast<wl_shm*>(wl_registry_bind(reg, name, &wl_shm_interface, 1));
    } else if (i == wp_presentation_interface.name) {
      c->presentation_ = static_cast<wp_presentation*>(wl_registry_bind(reg, name, &wp_presentation_interface, 1));
    } else if (i == zcpipe_socket_manager_v1_interface.name) {
      c->manager_ = static_cast<zcpipe_socket_manager_v1*>(
          wl_registry_bind(reg, name, &zcpipe_socket_manager_v1_interface, 1));
    }
    (void)version;
  }
  static void global_remove(void*, wl_registry*, uint32_t) {}
  static constexpr wl_registry_listener kRegistryListener = {global, global_remove};

  static void ping(void*, xdg_wm_base* wm, uint32_t serial) { xdg_wm_base_pong(wm, serial); }
  static constexpr xdg_wm_base_listener kWmListener = {ping};

  static void xs_configure(void* data, xdg_surface*, uint32_t serial) {
    auto* c = static_cast<RawClient*>(data);
    c->configure_serial_ = serial;
    c->configured_ = true;
  }
  static constexpr xdg_surface_listener kXdgSurfaceListener = {xs_configure};

  static void tl_configure(void*, xdg_toplevel*, int32_t, int32_t, wl_array*) {}
  static void tl_close(void*, xdg_toplevel*) {}
  static void tl_bounds(void*, xdg_toplevel*, int32_t, int32_t) {}
  static void tl_caps(void*, xdg_toplevel*, wl_array*) {}
  static constexpr xdg_toplevel_listener kToplevelListener = {tl_configure, tl_close, tl_bounds, tl_caps};

  static void stream_socket(void* data, zcpipe_socket_stream_v1*, int32_t fd) {
    auto* c = static_cast<RawClient*>(data);
    if (c->data_fd_ >= 0) ::close(c->data_fd_);
    c->data_fd_ = fd;
  }
  static constexpr zcpipe_socket_stream_v1_listener kStreamListener = {stream_socket};

  void forget(struct wp_presentation_feedback* fb) {
    wp_presentation_feedback_destroy(fb);
    std::erase(feedbacks_, fb);
  }
  static void fb_sync_output(void*, struct wp_presentation_feedback*, wl_output*) {}
  static void fb_presented(void* data, struct wp_presentation_feedback* fb, uint32_t, uint32_t, uint32_t, uint32_t,
                           uint32_t, uint32_t, uint32_t) {
    auto* c = static_cast<RawClient*>(data);
    c->presented_++;
    c->forget(fb);
  }
  static void fb_discarded(void* data, struct wp_presentation_feedback* fb) {
    auto* c = static_cast<RawClient*>(data);
    c->discarded_++;
    c->forget(fb);
  }
  static constexpr wp_presentation_feedback_listener kFeedbackListener = {fb_sync_output, fb_presented,
                                                                          fb_discarded};

  std::vector<zcpipe_socket_stream_v1*> replaced_streams_;
  wl_display* display_ = nullptr;
  wl_registry* registry_ = nullptr;
  wl_compositor* compositor_ = nullptr;
  xdg_wm_base* wm_base_ = nullptr;
  wl_shm* shm_ = nullptr;
  wp_presentation* presentation_ = nullptr;
  zcpipe_socket_manager_v1* manager_ = nullptr;
  zcpipe_socket_stream_v1* stream_ = nullptr;
  wl_surface* surface_ = nullptr;
  xdg_surface* xsurface_ = nullptr;
  xdg_toplevel* toplevel_ = nullptr;
  std::vector<wl_buffer*> buffers_;
  std::vector<wl_proxy*> others_;
  std::vector<struct wp_presentation_feedback*> feedbacks_;
  uint32_t configure_serial_ = 0;
  bool configured_ = false;
  int data_fd_ = -1;
  uint32_t presented_ = 0, discarded_ = 0;
};

}  // namespace zcb
