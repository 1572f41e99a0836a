#include "client/client.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/mman.h>
#include <wayland-client.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "buffer/pattern.h"
#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "stats/trace.h"
#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "presentation-time-client-protocol.h"
#include "transport/socket_frame.h"
#include "xdg-shell-client-protocol.h"
#include "zcpipe-socket-v1-client-protocol.h"

namespace zc::client {

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::dmabuf: return "dmabuf";
    case Transport::shm: return "shm";
    case Transport::socket: return "socket";
  }
  return "?";
}

struct Slot {
  Client::Impl* client = nullptr;
  std::unique_ptr<buffer::Buffer> buffer;
  wl_buffer* wl = nullptr;
  bool busy = false;  // the compositor holds it: do not touch until release
};

struct FrameState {
  Client::Impl* client = nullptr;
  uint64_t frame = 0;
  struct wp_presentation_feedback* feedback = nullptr;
};

struct Client::Impl {
  ClientConfig cfg;
  stats::FrameLedger* ledger = nullptr;
  wl_display* display = nullptr;
  wl_registry* registry = nullptr;
  wl_compositor* compositor = nullptr;
  xdg_wm_base* wm_base = nullptr;
  zwp_linux_dmabuf_v1* dmabuf = nullptr;
  uint32_t dmabuf_version = 0;
  wp_presentation* presentation = nullptr;
  clockid_t presentation_clock = CLOCK_MONOTONIC;
  wl_output* output = nullptr;
  wl_shm* shm = nullptr;
  zcpipe_socket_manager_v1* socket_manager = nullptr;
  zcpipe_socket_stream_v1* stream = nullptr;
  UniqueFd data_socket;  // socket transport: our end of the compositor's socketpair
  wl_surface* surface = nullptr;
  xdg_surface* xsurface = nullptr;
  xdg_toplevel* toplevel = nullptr;
  uint32_t configure_serial = 0;
  bool configured = false;
  bool closed = false;
  std::unique_ptr<buffer::Allocator> allocator;
  std::vector<std::unique_ptr<Slot>> slots;
  // Frames whose presentation feedback is outstanding. Reused once the
  // feedback arrived: the pool grows to the most ever in flight (a few),
  // not by one per frame.
  std::vector<std::unique_ptr<FrameState>> frame_states;
  FrameState* free_frame_state() {
    for (auto& st : frame_states)
      if (st->feedback == nullptr) return st.get();
    frame_states.push_back(std::make_unique<FrameState>());
    return frame_states.back().get();
  }
  // Formats to allocate with: (format, modifier). v3: every pair the
  // compositor accepts; v4: the first (most preferred) feedback tranche
  // that has our format.
  std::vector<std::pair<uint32_t, uint64_t>> formats;
  std::optional<dev_t> main_device;
  // dmabuf feedback parsing state
  std::vector<std::pair<uint32_t, uint64_t>> table;
  std::vector<std::pair<uint32_t, uint64_t>> tranche;  // the tranche being received
  uint32_t tranche_flags = 0;
  bool scanout_tranche = false;  // `formats` came from a tranche with the SCANOUT flag
  bool feedback_done = false;

  bool frame_done = false;
  uint64_t outstanding_feedback = 0;
  uint64_t presented = 0, zero_copy = 0, discarded = 0;
  uint64_t run_ns = 0;  // first frame to the last frame's presentation

  ~Impl();
  Result<void> connect();
  Result<void> setup_window();
  Result<void> allocate_ring();
  Result<void> allocate_dmabuf_ring(const std::vector<uint64_t>& mods);
  Result<void> allocate_shm_ring();
  Result<void> setup_socket();
  Result<void> submit(Slot& slot, uint64_t n);
  Result<void> dispatch(const char* waiting_for);
  Slot* free_slot();
};

namespace {

// ---------------------------------------------------------------- listeners
void registry_global(void* data, wl_registry* reg, uint32_t name, const char* iface, uint32_t version) {
  auto* c = static_cast<Client::Impl*>(data);
  const std::string_view i(iface);
  if (i == wl_compositor_interface.name) {
    c->compositor = static_cast<wl_compositor*>(wl_registry_bind(reg, name, &wl_compositor_interface, std::min(version, 4u)));
  } else if (i == xdg_wm_base_interface.name) {
    c->wm_base = static_cast<xdg_wm_base*>(wl_registry_bind(reg, name, &xdg_wm_base_interface, std::min(version, 2u)));
  } else if (i == zwp_linux_dmabuf_v1_interface.name && version >= 3) {
    c->dmabuf_version = std::min(version, 4u);
    c->dmabuf = static_cast<zwp_linux_dmabuf_v1*>(
        wl_registry_bind(reg, name, &zwp_linux_dmabuf_v1_interface, c->dmabuf_version));
  } else if (i == wp_presentation_interface.name) {
    c->presentation = static_cast<wp_presentation*>(wl_registry_bind(reg, name, &wp_presentation_interface, 1));
  } else if (i == wl_shm_interface.name) {
    c->shm = static_cast<wl_shm*>(wl_registry_bind(reg, name, &wl_shm_interface, 1));
  } else if (i == zcpipe_socket_manager_v1_interface.name) {
    c->socket_manager = static_cast<zcpipe_socket_manager_v1*>(
        wl_registry_bind(reg, name, &zcpipe_socket_manager_v1_interface, 1));
  } else if (i == wl_output_interface.name && c->output == nullptr) {
    c->output = static_cast<wl_output*>(wl_registry_bind(reg, name, &wl_output_interface, std::min(version, 3u)));
  }
}
void registry_remove(void*, wl_registry*, uint32_t) {}
const wl_registry_listener kRegistryListener = {registry_global, registry_remove};

void wm_ping(void*, xdg_wm_base* wm, uint32_t serial) { xdg_wm_base_pong(wm, serial); }
const xdg_wm_base_listener kWmListener = {wm_ping};

void xs_configure(void* data, xdg_surface*, uint32_t serial) {
  auto* c = static_cast<Client::Impl*>(data);
  c->configure_serial = serial;
  c->configured = true;
}
const xdg_surface_listener kXdgSurfaceListener = {xs_configure};

void tl_configure(void*, xdg_toplevel*, int32_t, int32_t, wl_array*) {}
void tl_close(void* data, xdg_toplevel*) { static_cast<Client::Impl*>(data)->closed = true; }
void tl_bounds(void*, xdg_toplevel*, int32_t, int32_t) {}
void tl_caps(void*, xdg_toplevel*, wl_array*) {}
const xdg_toplevel_listener kToplevelListener = {tl_configure, tl_close, tl_bounds, tl_caps};

void presentation_clock(void* data, wp_presentation*, uint32_t clk) {
  static_cast<Client::Impl*>(data)->presentation_clock = static_cast<clockid_t>(clk);
}
const wp_presentation_listener kPresentationListener = {presentation_clock};

void dmabuf_format(void*, zwp_linux_dmabuf_v1*, uint32_t) {}
void dmabuf_modifier(void* data, zwp_linux_dmabuf_v1*, uint32_t format, uint32_t hi, uint32_t lo) {
  static_cast<Client::Impl*>(data)->formats.emplace_back(format, (uint64_t{hi} << 32) | lo);
}
const zwp_linux_dmabuf_v1_listener kDmabufListener = {dmabuf_format, dmabuf_modifier};

// dmabuf feedback (v4): which device, which formats.
void fb_done(void* data, zwp_linux_dmabuf_feedback_v1*) { static_cast<Client::Impl*>(data)->feedback_done = true; }
void fb_format_table(void* data, zwp_linux_dmabuf_feedback_v1*, int32_t raw_fd, uint32_t size) {
  UniqueFd fd{raw_fd};
  auto* c = static_cast<Client::Impl*>(data);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) {
    log::warn("cannot map the dmabuf format table: {}", std::strerror(errno));
    return;
  }
  struct Entry {
    uint32_t format, pad;
    uint64_t modifier;
  };
  const auto* e = static_cast<const Entry*>(p);
  c->table.clear();
  for (size_t i = 0; i < size / sizeof(Entry); ++i) c->table.emplace_back(e[i].format, e[i].modifier);
  ::munmap(p, size);
}
void fb_main_device(void* data, zwp_linux_dmabuf_feedback_v1*, wl_array* dev) {
  auto* c = static_cast<Client::Impl*>(data);
  if (dev->size == sizeof(dev_t)) {
    dev_t d;
    std::memcpy(&d, dev->data, sizeof d);
    c->main_device = d;
  }
}
// Tranches come in falling order of preference: the first one with our
// format decides the modifiers (a SCANOUT tranche: the display can show the
// buffer without a copy).
void fb_tranche_done(void* data, zwp_linux_dmabuf_feedback_v1*) {
  auto* c = static_cast<Client::Impl*>(data);
  const bool has_ours = std::any_of(c->tranche.begin(), c->tranche.end(),
                                    [c](const auto& fm) { return fm.first == c->cfg.format; });
  if (c->formats.empty() && has_ours) {
    c->formats = c->tranche;
    c->scanout_tranche = (c->tranche_flags & ZWP_LINUX_DMABUF_FEEDBACK_V1_TRANCHE_FLAGS_SCANOUT) != 0;
  }
  c->tranche.clear();
  c->tranche_flags = 0;
}
void fb_tranche_target(void*, zwp_linux_dmabuf_feedback_v1*, wl_array*) {}
void fb_tranche_formats(void* data, zwp_linux_dmabuf_feedback_v1*, wl_array* indices) {
  auto* c = static_cast<Client::Impl*>(data);
  const auto* idx = static_cast<const uint16_t*>(indices->data);
  for (size_t i = 0; i < indices->size / sizeof(uint16_t); ++i)
    if (idx[i] < c->table.size()) c->tranche.push_back(c->table[idx[i]]);
}
void fb_tranche_flags(void* data, zwp_linux_dmabuf_feedback_v1*, uint32_t flags) {
  static_cast<Client::Impl*>(data)->tranche_flags = flags;
}
const zwp_linux_dmabuf_feedback_v1_listener kFeedbackListener = {
    fb_done, fb_format_table, fb_main_device, fb_tranche_done, fb_tranche_target, fb_tranche_formats,
    fb_tranche_flags};

void stream_socket(void* data, zcpipe_socket_stream_v1*, int32_t fd) {
  static_cast<Client::Impl*>(data)->data_socket = UniqueFd{fd};
}
const zcpipe_socket_stream_v1_listener kStreamListener = {stream_socket};

void buffer_release(void* data, wl_buffer*) {
  ZC_TRACE("wl_buffer.release received: the compositor and the display are done with this buffer; it may be drawn into again", 0);
  static_cast<Slot*>(data)->busy = false;
}
const wl_buffer_listener kBufferListener = {buffer_release};

void frame_done(void* data, wl_callback* cb, uint32_t) {
  ZC_TRACE("wl_callback.done: the compositor says now is a good time to draw the next frame", 0);
  static_cast<Client::Impl*>(data)->frame_done = true;
  wl_callback_destroy(cb);
}
const wl_callback_listener kFrameListener = {frame_done};

// Presentation feedback: the moment the frame reached the screen.
void pf_sync_output(void*, struct wp_presentation_feedback*, wl_output*) {}
void pf_presented(void* data, struct wp_presentation_feedback* fb, uint32_t sec_hi, uint32_t sec_lo, uint32_t nsec,
                  uint32_t refresh, uint32_t seq_hi, uint32_t seq_lo, uint32_t flags) {
  auto* st = static_cast<FrameState*>(data);
  Client::Impl* c = st->client;
  const uint64_t t = ((uint64_t{sec_hi} << 32 | sec_lo) * 1'000'000'000ull) + nsec;
  const bool zc = (flags & WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY) != 0;
  ZC_TRACE(fmt::format("wp_presentation_feedback.presented for frame {}: on screen at refresh {}{}", st->frame,
                       (uint64_t{seq_hi} << 32) | seq_lo, zc ? ", kind ZERO_COPY (the display read our own buffer)" : ", no ZERO_COPY (a copy was shown)"),
           0);
  c->presented++;
  if (zc) c->zero_copy++;
  c->outstanding_feedback--;
  if (c->ledger != nullptr) {
    if (stats::FrameRecord* r = c->ledger->record(st->frame)) {
      r->notes.set_presented(t, (uint64_t{seq_hi} << 32) | seq_lo, zc);
      r->notes.set_feedback(refresh, flags);
    }
  }
  wp_presentation_feedback_destroy(fb);
  st->feedback = nullptr;
}
void pf_discarded(void* data, struct wp_presentation_feedback* fb) {
  auto* st = static_cast<FrameState*>(data);
  st->client->discarded++;
  st->client->outstanding_feedback--;
  if (st->client->ledger != nullptr)
    if (stats::FrameRecord* r = st->client->ledger->record(st->frame)) r->notes.set_discarded();
  wp_presentation_feedback_destroy(fb);
  st->feedback = nullptr;
}
const wp_presentation_feedback_listener kPresentationFeedbackListener = {pf_sync_output, pf_presented,
                                                                         pf_discarded};

}  // namespace

Client::Impl::~Impl() {
  for (auto& st : frame_states)
    if (st->feedback != nullptr) wp_presentation_feedback_destroy(st->feedback);
  for (auto& s : slots)
    if (s->wl != nullptr) wl_buffer_destroy(s->wl);
  slots.clear();
  if (toplevel != nullptr) xdg_toplevel_destroy(toplevel);
  if (xsurface != nullptr) xdg_surface_destroy(xsurface);
  if (surface != nullptr) wl_surface_destroy(surface);
  if (stream != nullptr) zcpipe_socket_stream_v1_destroy(stream);
  if (socket_manager != nullptr) zcpipe_socket_manager_v1_destroy(socket_manager);
  if (shm != nullptr) wl_shm_destroy(shm);
  if (output != nullptr) wl_output_destroy(output);
  if (presentation != nullptr) wp_presentation_destroy(presentation);
  if (dmabuf != nullptr) zwp_linux_dmabuf_v1_destroy(dmabuf);
  if (wm_base != nullptr) xdg_wm_base_destroy(wm_base);
  if (compositor != nullptr) wl_compositor_destroy(compositor);
  if (registry != nullptr) wl_registry_destroy(registry);
  if (display != nullptr) {
    wl_display_flush(display);
    wl_display_disconnect(display);
  }
}

// One round of the event loop with a deadline, so a stalled compositor turns
// into a clear error instead of a hang.
Result<void> Client::Impl::dispatch(const char* waiting_for) {
  while (wl_display_prepare_read(display) != 0) {
    if (wl_display_dispatch_pending(display) < 0) return Error::from_errno("Wayland connection failed");
  }
  if (wl_display_flush(display) < 0 && errno != EAGAIN) {
    wl_display_cancel_read(display);
    return Error::from_errno("cannot send to the compositor");
  }
  pollfd p{wl_display_get_fd(display), POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, cfg.timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) {
    wl_display_cancel_read(display);
    if (r == 0) return Error{ETIMEDOUT, fmt::format("compositor sent no {} within {} ms", waiting_for, cfg.timeout_ms)};
    return Error::from_errno("poll");
  }
  if (wl_display_read_events(display) < 0 || wl_display_dispatch_pending(display) < 0) {
    const int err = wl_display_get_error(display);
    uint32_t code = 0;
    const wl_interface* iface = nullptr;
    if (err == EPROTO) {
      code = wl_display_get_protocol_error(display, &iface, nullptr);
      return Error{EPROTO, fmt::format("protocol error {} on {}", code, iface ? iface->name : "?")};
    }
    return Error{err, "connection to the compositor lost"};
  }
  return {};
}

Result<void> Client::Impl::connect() {
  display = wl_display_connect(cfg.socket.empty() ? nullptr : cfg.socket.c_str());
  if (display == nullptr)
    return Error::from_errno(fmt::format("cannot connect to Wayland socket '{}'",
                                         cfg.socket.empty() ? "$WAYLAND_DISPLAY" : cfg.socket));
  registry = wl_display_get_registry(display);
  wl_registry_add_listener(registry, &kRegistryListener, this);
  if (wl_display_roundtrip(display) < 0) return Error::from_errno("registry roundtrip");
  if (compositor == nullptr || wm_base == nullptr)
    return Error{ENOTSUP, "compositor lacks wl_compositor or xdg_wm_base"};
  if (cfg.transport == Transport::dmabuf && dmabuf == nullptr)
    return Error{ENOTSUP, "compositor does not offer zwp_linux_dmabuf_v1 (version 3 or later)"};
  if (cfg.transport == Transport::shm && shm == nullptr) return Error{ENOTSUP, "compositor does not offer wl_shm"};
  if (cfg.transport == Transport::socket && socket_manager == nullptr)
    return Error{ENOTSUP, "compositor does not offer zcpipe_socket_manager_v1 (the socket baseline)"};
  xdg_wm_base_add_listener(wm_base, &kWmListener, this);
  if (presentation != nullptr) wp_presentation_add_listener(presentation, &kPresentationListener, this);
  if (dmabuf == nullptr) {
    // Not needed by this transport.
  } else if (dmabuf_version >= 4) {
    auto* fb = zwp_linux_dmabuf_v1_get_default_feedback(dmabuf);
    zwp_linux_dmabuf_feedback_v1_add_listener(fb, &kFeedbackListener, this);
    while (!feedback_done)
      if (auto r = dispatch("dmabuf feedback"); !r) return r;
    zwp_linux_dmabuf_feedback_v1_destroy(fb);
  } else {
    zwp_linux_dmabuf_v1_add_listener(dmabuf, &kDmabufListener, this);
    if (wl_display_roundtrip(display) < 0) return Error::from_errno("dmabuf roundtrip");
  }
  return {};
}

Result<void> Client::Impl::setup_window() {
  surface = wl_compositor_create_surface(compositor);
  xsurface = xdg_wm_base_get_xdg_surface(wm_base, surface);
  xdg_surface_add_listener(xsurface, &kXdgSurfaceListener, this);
  toplevel = xdg_surface_get_toplevel(xsurface);
  xdg_toplevel_add_listener(toplevel, &kToplevelListener, this);
  xdg_toplevel_set_title(toplevel, "zcpipe-client");
  xdg_toplevel_set_app_id(toplevel, "zcpipe-client");
  xdg_toplevel_set_fullscreen(toplevel, output);
  // The initial commit has no buffer: it asks the compositor for a configure.
  wl_surface_commit(surface);
  while (!configured)
    if (auto r = dispatch("configure"); !r) return r;
  xdg_surface_ack_configure(xsurface, configure_serial);
  return {};
}

Result<void> Client::Impl::allocate_ring() {
  switch (cfg.transport) {
    case Transport::dmabuf: {
      std::vector<uint64_t> mods;
      for (const auto& [f, m] : formats)
        if (f == cfg.format) mods.push_back(m);
      if (mods.empty())
        return Error{ENOTSUP, fmt::format("compositor does not accept {} dma-bufs", format_name(cfg.format))};
      return allocate_dmabuf_ring(mods);
    }
    case Transport::shm: return allocate_shm_ring();
    case Transport::socket: return setup_socket();
  }
  return {};
}

Result<void> Client::Impl::allocate_dmabuf_ring(const std::vector<uint64_t>& mods) {
  for (uint32_t i = 0; i < cfg.buffers; ++i) {
    auto b = allocator->allocate(cfg.width, cfg.height, cfg.format, mods);
    if (!b) return b.error();
    auto slot = std::make_unique<Slot>();
    slot->client = this;
    slot->buffer = std::move(b.value());
    const buffer::Dmabuf& d = slot->buffer->desc();
    // Describe the buffer: one add() per plane with its fd; the fd is
    // duplicated into the compositor by the kernel (SCM_RIGHTS).
    zwp_linux_buffer_params_v1* params = zwp_linux_dmabuf_v1_create_params(dmabuf);
    for (uint32_t p = 0; p < d.num_planes; ++p)
      zwp_linux_buffer_params_v1_add(params, d.planes[p].fd.get(), p, d.planes[p].offset, d.planes[p].stride,
                                     static_cast<uint32_t>(d.modifier >> 32),
                                     static_cast<uint32_t>(d.modifier & 0xffffffffu));
    slot->wl = zwp_linux_buffer_params_v1_create_immed(params, static_cast<int32_t>(d.width),
                                                       static_cast<int32_t>(d.height), d.format, 0);
    zwp_linux_buffer_params_v1_destroy(params);
    wl_buffer_add_listener(slot->wl, &kBufferListener, slot.get());
    slots.push_back(std::move(slot));
  }
  // A roundtrip proves the compositor accepted every buffer.
  if (wl_display_roundtrip(display) < 0) return Error{wl_display_get_error(display), "compositor rejected a buffer"};
  return {};
}

// wl_shm: the same ring, in plain shared memory the compositor maps and copies.
Result<void> Client::Impl::allocate_shm_ring() {
  for (uint32_t i = 0; i < cfg.buffers; ++i) {
    auto b = allocator->allocate(cfg.width, cfg.height, cfg.format, {});
    if (!b) return b.error();
    auto slot = std::make_unique<Slot>();
    slot->client = this;
    slot->buffer = std::move(b.value());
    const buffer::Dmabuf& d = slot->buffer->desc();
    const auto size = static_cast<int32_t>(d.plane0_extent());
    wl_shm_pool* pool = wl_shm_create_pool(shm, d.planes[0].fd.get(), size);
    // wl_shm names ARGB8888/XRGB8888 0 and 1; every other format is its DRM fourcc.
    uint32_t shm_format = d.format;
    if (d.format == DRM_FORMAT_ARGB8888) shm_format = WL_SHM_FORMAT_ARGB8888;
    if (d.format == DRM_FORMAT_XRGB8888) shm_format = WL_SHM_FORMAT_XRGB8888;
    slot->wl = wl_shm_pool_create_buffer(pool, static_cast<int32_t>(d.planes[0].offset), static_cast<int32_t>(d.width),
                                         static_cast<int32_t>(d.height), static_cast<int32_t>(d.planes[0].stride),
                                         shm_format);
    wl_shm_pool_destroy(pool);  // the buffer keeps the pool's mapping alive
    wl_buffer_add_listener(slot->wl, &kBufferListener, slot.get());
    slots.push_back(std::move(slot));
  }
  if (wl_display_roundtrip(display) < 0) return Error{wl_display_get_error(display), "compositor rejected a buffer"};
  return {};
}

// The socket baseline: one private frame (never shared), and a data socket.
Result<void> Client::Impl::setup_socket() {
  auto b = allocator->allocate(cfg.width, cfg.height, cfg.format, {});
  if (!b) return b.error();
  auto slot = std::make_unique<Slot>();
  slot->client = this;
  slot->buffer = std::move(b.value());
  slots.push_back(std::move(slot));
  stream = zcpipe_socket_manager_v1_get_stream(socket_manager, surface, cfg.chunk);
  zcpipe_socket_stream_v1_add_listener(stream, &kStreamListener, this);
  while (!data_socket)
    if (auto r = dispatch("data socket"); !r) return r;
  return {};
}

Slot* Client::Impl::free_slot() {
  for (auto& s : slots)
    if (!s->busy) return s.get();
  return nullptr;
}

// Hands frame n to the compositor. dmabuf and shm: attach the buffer (only a
// few bytes of protocol cross the socket). socket: write every pixel through
// the data socket first, then tell the compositor which frame to show.
Result<void> Client::Impl::submit(Slot& slot, uint64_t n) {
  if (cfg.transport == Transport::socket) {
    buffer::Buffer& b = *slot.buffer;
    auto px = b.map(true);
    if (!px) return px.error();
    transport::SocketFrameHeader h;
    h.seq = n;
    h.width = b.width();
    h.height = b.height();
    h.stride = b.stride();
    h.format = b.format();
    h.byte_count = b.desc().plane0_extent();
    if (auto r = transport::write_frame(data_socket.get(), h, *px, cfg.chunk, ledger); !r) return r;
    zcpipe_socket_stream_v1_attach_frame(stream, static_cast<uint32_t>(n));
    ZC_TRACE("zcpipe_socket_stream_v1.attach_frame: the next commit shows this frame from the socket", 0);
  } else {
    wl_surface_attach(surface, slot.wl, 0, 0);
    ZC_TRACE(cfg.transport == Transport::dmabuf
                 ? "wl_surface.attach of the dma-buf wl_buffer: a 4-byte object id; the fd crossed once, when the buffer was created"
                 : "wl_surface.attach of the wl_shm buffer: an object id; the pool's fd crossed once",
             0);
  }
  wl_surface_damage_buffer(surface, 0, 0, INT32_MAX, INT32_MAX);
  return {};
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(const ClientConfig& config, stats::FrameLedger* ledger) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  if (impl->cfg.format == 0) impl->cfg.format = DRM_FORMAT_XRGB8888;
  if (impl->cfg.buffers < 2) return Error{EINVAL, "need at least 2 buffers"};
  impl->ledger = ledger;
  if (auto r = impl->connect(); !r) return r.error();
  buffer::AllocatorRequest req = config.allocator;
  if (!req.device && impl->main_device) req.device = impl->main_device;
  // shm and socket frames live in plain memory: that is what those paths are.
  if (config.transport != Transport::dmabuf) req.choice = buffer::AllocatorChoice::memfd;
  auto alloc = buffer::create_allocator(req);
  if (!alloc) return alloc.error();
  impl->allocator = std::move(alloc.value());
  log::info("allocator: {}", impl->allocator->description());
  if (auto r = impl->setup_window(); !r) return r.error();
  if (auto r = impl->allocate_ring(); !r) return r.error();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<void> Client::run() {
  Impl& c = *impl_;
  const uint64_t t0 = monotonic_ns();
  uint64_t last_progress = t0;
  for (uint64_t n = 0; n < c.cfg.frames; ++n) {
    // Reuse a buffer only after the compositor released it: it may still be on screen.
    Slot* slot = c.free_slot();
    while (slot == nullptr) {
      if (auto r = c.dispatch("buffer release"); !r) return r;
      slot = c.free_slot();
    }
    if (c.ledger != nullptr) c.ledger->begin_frame(n);

    buffer::Buffer& b = *slot->buffer;
    auto px = b.map(true);  // already mapped at allocation: returns the same mapping
    if (!px) return px.error();
    const buffer::PixelView view{px->data(), b.width(), b.height(), b.stride(), b.format()};
    ZC_TRACE(fmt::format("render frame {}: the CPU writes {} into the buffer ({})", n,
                         c.cfg.render == Render::full ? "every pixel" : "only the frame-number rows",
                         std::string(buffer::kind_name(b.kind()))),
             c.cfg.render == Render::full ? b.desc().plane0_extent() : 0);
    if (c.cfg.render != Render::none) {
      b.begin_cpu_access(true);
      if (c.cfg.render == Render::full) buffer::render_pattern(view, n);
      else buffer::render_pattern_header(view, n);
      b.end_cpu_access(true);
    }
    if (c.cfg.checksum && c.ledger != nullptr) {
      const uint64_t sum = buffer::checksum({px->data(), b.width(), b.height(), b.stride(), b.format()});
      c.ledger->current()->notes.set_checksum(sum);
    }

    // The frame is ready: from here on, everything is the cost of delivering it.
    if (c.ledger != nullptr) c.ledger->current()->notes.set_ready(c.ledger->now_ns());
    if (auto r = c.submit(*slot, n); !r) return r;
    c.frame_done = false;
    wl_callback* cb = wl_surface_frame(c.surface);
    wl_callback_add_listener(cb, &kFrameListener, &c);
    if (c.presentation != nullptr) {
      FrameState* st = c.free_frame_state();
      st->client = &c;
      st->frame = n;
      st->feedback = wp_presentation_feedback(c.presentation, c.surface);
      wp_presentation_feedback_add_listener(st->feedback, &kPresentationFeedbackListener, st);
      c.outstanding_feedback++;
    }
    if (c.cfg.transport != Transport::socket) slot->busy = true;
    if (c.ledger != nullptr) c.ledger->current()->notes.set_commit(c.ledger->now_ns());
    wl_surface_commit(c.surface);
    ZC_TRACE("wl_surface.commit, then wl_display_flush: attach, damage, frame and feedback requests leave in one sendmsg()", 0);
    wl_display_flush(c.display);

    // Pace on the compositor: draw the next frame when it says so.
    while (!c.frame_done) {
      if (c.closed) return Error{ECANCELED, "compositor closed the window"};
      if (auto r = c.dispatch("frame callback"); !r) return r;
    }
    if (c.cfg.progress) {
      const uint64_t now = monotonic_ns();
      if (now - last_progress > 250'000'000ull || n + 1 == c.cfg.frames) {
        last_progress = now;
        std::fprintf(stderr, "\rzcpipe-client: frame %llu/%llu  %.1f fps ",
                     static_cast<unsigned long long>(n + 1), static_cast<unsigned long long>(c.cfg.frames),
                     static_cast<double>(n + 1) * 1e9 / static_cast<double>(now - t0));
      }
    }
  }
  // Wait for the fate (presented or discarded) of every frame.
  while (c.outstanding_feedback > 0)
    if (auto r = c.dispatch("presentation feedback"); !r) return r;
  c.run_ns = monotonic_ns() - t0;
  if (c.ledger != nullptr) c.ledger->end_frame();
  if (c.cfg.progress) std::fprintf(stderr, "\n");
  return {};
}

nlohmann::json Client::report() const {
  const Impl& c = *impl_;
  nlohmann::json j;
  j["transport"] = transport_name(c.cfg.transport);
  j["chunk"] = c.cfg.chunk;
  j["allocator"] = c.allocator->name();
  j["allocator_description"] =
      c.cfg.transport == Transport::socket
          ? "private memory (memfd, never shared: the pixels themselves go through the socket)"
          : c.allocator->description();
  j["buffer_kind"] = std::string(buffer::kind_name(c.allocator->kind()));
  j["width"] = c.cfg.width;
  j["height"] = c.cfg.height;
  j["format"] = format_name(c.cfg.format);
  j["frame_bytes"] = c.slots.empty() ? 0 : c.slots[0]->buffer->desc().plane0_extent();
  j["buffers"] = c.cfg.buffers;
  j["warmup_frames"] = c.cfg.warmup;
  j["frames_requested"] = c.cfg.frames;
  j["frames_presented"] = c.presented;
  j["frames_zero_copy"] = c.zero_copy;
  j["frames_discarded"] = c.discarded;
  j["run_ns"] = c.run_ns;
  j["ledger_enabled"] = c.ledger != nullptr;
  // Presentation-feedback slots ever allocated: the most frames in flight
  // at once, reused after that (not one per frame).
  j["feedback_slots"] = c.frame_states.size();
  j["dmabuf_version"] = c.dmabuf_version;
  // v4: whether the modifiers came from the display's scanout tranche.
  if (c.dmabuf_version >= 4) j["dmabuf_scanout_tranche"] = c.scanout_tranche;
  j["render"] = c.cfg.render == Render::full ? "full" : c.cfg.render == Render::header ? "header" : "none";
  if (!c.slots.empty()) j["modifier"] = modifier_name(c.slots[0]->buffer->desc().modifier);
  return j;
}

}  // namespace zc::client
