#include "client/client.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <poll.h>
#include <wayland-client.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "buffer/overwrite_marker.h"
#include "client/gl_renderer.h"
#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "stats/trace.h"
#include "presentation-time-client-protocol.h"
#include "xdg-shell-client-protocol.h"

// The client's main loop, in the order a frame travels:
//
//   wait for a free buffer (the compositor released it)
//   -> render into it (client/renderer.h)
//   -> submit it (transport/transport.h) and commit, asking for a frame
//      callback and presentation feedback
//   -> wait for the frame callback (the compositor's "draw the next one now")
//   ... later: presentation feedback (the frame reached the screen, or was
//   discarded) and the buffer's release.
//
// How the frame travels (an fd, shared memory, or a socket) is the
// transport's business and how it was drawn the renderer's: this file knows
// only the Wayland objects every transport shares (the surface, its window,
// frame callbacks and presentation feedback).
namespace zc::client {

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
  transport::Globals globals;  // what the compositor announced; each transport binds its own
  wl_compositor* compositor = nullptr;
  xdg_wm_base* wm_base = nullptr;
  wp_presentation* presentation = nullptr;
  clockid_t presentation_clock = CLOCK_MONOTONIC;
  wl_output* output = nullptr;
  wl_surface* surface = nullptr;
  xdg_surface* xsurface = nullptr;
  xdg_toplevel* toplevel = nullptr;
  uint32_t configure_serial = 0;
  bool configured = false;
  bool closed = false;
  std::unique_ptr<Renderer> renderer;
  std::string renderer_reason;  // --renderer auto: why this one
  std::unique_ptr<transport::Transport> transport;
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

  bool frame_done = false;
  wl_callback* frame_callback = nullptr;  // the one in flight; destroyed at exit if never done
  uint64_t outstanding_feedback = 0;
  uint64_t presented = 0, zero_copy = 0, discarded = 0;
  uint64_t run_ns = 0;  // first frame to the last frame's presentation
  // --overwrite-proof: frames whose buffer got the marker, or why none could.
  uint64_t frames_marked = 0;
  std::string overwrite_skipped;
  // Per-surface feedback followed: ring reallocations, the first frame drawn
  // into the new ring, and the format it started with.
  uint64_t feedback_reallocations = 0;
  std::optional<uint64_t> feedback_switch_frame;
  uint32_t format_requested = 0;

  ~Impl();
  Result<void> connect();
  template <typename T>
  T* bind(const wl_interface& iface, uint32_t max_version);
  Result<void> setup_window();
  Result<void> dispatch(const char* waiting_for);
  Result<void> choose_renderer();
  Result<void> follow_feedback(uint64_t n);

  // The steps of one frame, in order.
  Result<transport::Slot*> wait_for_free_buffer();
  Result<void> render(transport::Slot& slot, uint64_t n);
  Result<void> submit_and_commit(transport::Slot& slot, uint64_t n);
  Result<void> wait_for_frame_callback();
  void overwrite_after_shown(transport::Slot& slot, uint64_t n);
};

namespace {

// ---------------------------------------------------------------- listeners
// Every global is noted; the client binds the ones every transport needs
// after the roundtrip, and the transport binds its own.
void registry_global(void* data, wl_registry*, uint32_t name, const char* iface, uint32_t version) {
  static_cast<Client::Impl*>(data)->globals.emplace(iface, transport::Global{name, version});  // the first of each
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

void frame_done(void* data, wl_callback* cb, uint32_t) {
  ZC_TRACE("wl_callback.done: the compositor says now is a good time to draw the next frame", 0);
  auto* c = static_cast<Client::Impl*>(data);
  c->frame_done = true;
  c->frame_callback = nullptr;
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
  ZC_TRACE(fmt::format("wp_presentation_feedback.presented for frame {}: on screen at vblank #{} (the refresh counter){}", st->frame,
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
  if (frame_callback != nullptr) wl_callback_destroy(frame_callback);
  for (auto& st : frame_states)
    if (st->feedback != nullptr) wp_presentation_feedback_destroy(st->feedback);
  transport.reset();  // its wl_buffers and globals
  if (toplevel != nullptr) xdg_toplevel_destroy(toplevel);
  if (xsurface != nullptr) xdg_surface_destroy(xsurface);
  if (surface != nullptr) wl_surface_destroy(surface);
  if (output != nullptr) wl_output_destroy(output);
  if (presentation != nullptr) wp_presentation_destroy(presentation);
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

template <typename T>
T* Client::Impl::bind(const wl_interface& iface, uint32_t max_version) {
  auto it = globals.find(iface.name);
  if (it == globals.end()) return nullptr;
  return static_cast<T*>(wl_registry_bind(registry, it->second.name, &iface, std::min(it->second.version, max_version)));
}

Result<void> Client::Impl::connect() {
  display = wl_display_connect(cfg.socket.empty() ? nullptr : cfg.socket.c_str());
  if (display == nullptr)
    return Error::from_errno(fmt::format("cannot connect to Wayland socket '{}'",
                                         cfg.socket.empty() ? "$WAYLAND_DISPLAY" : cfg.socket));
  registry = wl_display_get_registry(display);
  wl_registry_add_listener(registry, &kRegistryListener, this);
  if (wl_display_roundtrip(display) < 0) return Error::from_errno("registry roundtrip");
  compositor = bind<wl_compositor>(wl_compositor_interface, 4);
  wm_base = bind<xdg_wm_base>(xdg_wm_base_interface, 2);
  presentation = bind<wp_presentation>(wp_presentation_interface, 1);
  output = bind<wl_output>(wl_output_interface, 3);
  if (compositor == nullptr || wm_base == nullptr)
    return Error{ENOTSUP, "compositor lacks wl_compositor or xdg_wm_base"};
  xdg_wm_base_add_listener(wm_base, &kWmListener, this);
  if (presentation != nullptr) wp_presentation_add_listener(presentation, &kPresentationListener, this);
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

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(const ClientConfig& config, stats::FrameLedger* ledger) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  if (impl->cfg.format == 0) impl->cfg.format = DRM_FORMAT_XRGB8888;
  impl->format_requested = impl->cfg.format;
  if (impl->cfg.buffers < 2) return Error{EINVAL, "need at least 2 buffers"};
  impl->ledger = ledger;
  if (config.renderer == RendererChoice::gl) {
    // Fail before connecting: the reasons gl cannot work here need no compositor.
    if (config.transport != Transport::dmabuf)
      return Error{EINVAL, fmt::format("--renderer gl draws into dma-bufs: it needs --transport dmabuf, not {}",
                                       transport_name(config.transport))};
    if (auto r = check_drm_device(); !r) return r.error();
  }
  if (auto r = impl->connect(); !r) return r.error();

  Impl* c = impl.get();
  transport::Connection conn;
  conn.display = c->display;
  conn.registry = c->registry;
  conn.globals = &c->globals;
  conn.dispatch = [c](const char* waiting_for) { return c->dispatch(waiting_for); };
  transport::RingConfig ring;
  ring.width = c->cfg.width;
  ring.height = c->cfg.height;
  ring.format = c->cfg.format;
  ring.buffers = c->cfg.buffers;
  ring.chunk = c->cfg.chunk;
  ring.allocator = c->cfg.allocator;
  auto t = transport::create(c->cfg.transport, conn, ring, ledger);
  if (!t) return t.error();
  c->transport = std::move(t.value());
  log::info("allocator: {}", c->transport->allocator().description());
  if (auto r = c->choose_renderer(); !r) return r.error();

  if (auto r = c->setup_window(); !r) return r.error();
  const Renderer& renderer = *c->renderer;
  c->renderer->forget_buffers();  // nothing kept for a ring that is replaced
  if (auto r = c->transport->allocate_ring(
          c->surface, [&renderer](const std::vector<uint64_t>& accepted) { return renderer.choose_modifiers(accepted); });
      !r)
    return r.error();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

// --renderer: gl needs the ring's buffers to be dma-bufs on a DRM device
// (the dmabuf transport with the gbm allocator) and EGL on that device's GBM;
// auto takes gl when all of that works and says why not otherwise.
Result<void> Client::Impl::choose_renderer() {
  const RendererChoice want = cfg.renderer;
  if (want != RendererChoice::cpu) {
    const std::string device = transport->allocator().device_path();
    Result<std::unique_ptr<Renderer>> gl = Error{ENOTSUP, ""};
    if (cfg.transport != Transport::dmabuf)
      gl = Error{ENOTSUP, fmt::format("the {} transport hands over pixels the CPU copies; only dma-bufs can be GL render targets",
                                      transport_name(cfg.transport))};
    else if (device.empty())
      gl = Error{ENODEV, fmt::format("the ring's buffers are {} buffers, not GBM buffers on a DRM device",
                                     transport->allocator().name())};
    else
      gl = make_gl_renderer(device, cfg.render);
    if (gl) {
      renderer = std::move(gl.value());
      renderer_reason = fmt::format("EGL on the GBM device {} works", device);
    } else if (want == RendererChoice::gl) {
      return Error{0, "--renderer gl: " + gl.error().message()};
    } else {
      renderer_reason = gl.error().message();
    }
  }
  if (renderer == nullptr) {
    renderer = make_cpu_renderer(cfg.render);
    if (renderer_reason.empty()) renderer_reason = "--renderer cpu";
  }
  // One line, shown without --verbose: which renderer, which GL driver, why.
  if (renderer->driver().empty())
    log::info("renderer: {} ({})", renderer->name(), renderer_reason);
  else
    log::info("renderer: {}, GL_RENDERER {} ({})", renderer->name(), renderer->driver(), renderer_reason);
  return {};
}

// Per-surface dmabuf feedback, read between frames (never while a frame is
// being drawn). The compositor sends it again when it had to copy our frames
// for a reason another buffer would fix; if its scanout tranche does not hold
// the ring's (format, modifier), a ring of what it does hold (and this
// renderer can draw) replaces the old one, once: the next resend finds the
// new pair in the tranche and changes nothing.
Result<void> Client::Impl::follow_feedback(uint64_t n) {
  if (!transport->feedback_pending()) return {};
  const auto tranches = transport->take_feedback();
  const buffer::Buffer* first = transport->first_buffer();
  if (first == nullptr) return {};
  const Renderer& r = *renderer;
  const transport::ModifierChoice choose = [&r](const std::vector<uint64_t>& accepted) {
    return r.choose_modifiers(accepted);
  };
  auto to = transport::scanout_switch(tranches, first->format(), first->desc().modifier, cfg.follow_feedback, choose);
  if (!to) {
    log::debug("dmabuf feedback for frame {}: the ring ({}, {}) stays", n, format_name(first->format()),
               modifier_name(first->desc().modifier));
    return {};
  }
  log::info("dmabuf feedback before frame {}: the display scans out {} directly, not the ring's {} ({}); reallocating the ring",
            n, format_name(to->format), format_name(first->format()), modifier_name(first->desc().modifier));
  renderer->forget_buffers();  // its per-buffer state (EGLImages) dies with the old ring
  if (auto res = transport->reallocate_ring(to->format, choose); !res) return res;
  cfg.format = to->format;
  feedback_reallocations++;
  if (!feedback_switch_frame) feedback_switch_frame = n;
  return {};
}

// ------------------------------------------------------------- one frame
// Reuse a buffer only after the compositor released it: it may still be on screen.
Result<transport::Slot*> Client::Impl::wait_for_free_buffer() {
  transport::Slot* slot = transport->acquire();
  while (slot == nullptr) {
    if (auto r = dispatch("buffer release"); !r) return r.error();
    slot = transport->acquire();
  }
  return slot;
}

Result<void> Client::Impl::render(transport::Slot& slot, uint64_t n) {
  buffer::Buffer& b = *slot.buffer;
  if (auto r = renderer->render(b, n); !r) return r;
  if (cfg.checksum && ledger != nullptr) {
    auto sum = renderer->checksum(b, n);
    if (!sum) return sum.error();
    if (*sum)
      if (stats::FrameRecord* r = ledger->record(n)) r->notes.set_checksum(**sum);
  }
  // Every frame says how many pixel bytes the client's CPU touched, 0
  // included: with the GL renderer that 0 is the point.
  const uint64_t touched = renderer->take_cpu_touched_bytes();
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(n)) r->notes.add_cpu_touched(touched);
  return {};
}

// The transport attaches the frame; the commit also asks for a frame
// callback and presentation feedback, and all of it leaves in one sendmsg().
Result<void> Client::Impl::submit_and_commit(transport::Slot& slot, uint64_t n) {
  // The frame is ready: from here on, everything is the cost of delivering it.
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(n)) r->notes.set_ready(ledger->now_ns());
  if (auto r = transport->submit(slot, n); !r) return r;
  frame_done = false;
  // (One in flight: a new frame is committed only after the last one's
  // callback came, or the run is ending.)
  if (frame_callback != nullptr) wl_callback_destroy(frame_callback);
  frame_callback = wl_surface_frame(surface);
  wl_callback_add_listener(frame_callback, &kFrameListener, this);
  if (presentation != nullptr) {
    FrameState* st = free_frame_state();
    st->client = this;
    st->frame = n;
    st->feedback = wp_presentation_feedback(presentation, surface);
    wp_presentation_feedback_add_listener(st->feedback, &kPresentationFeedbackListener, st);
    outstanding_feedback++;
  }
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(n)) r->notes.set_commit(ledger->now_ns());
  wl_surface_commit(surface);
  ZC_TRACE("wl_surface.commit, then wl_display_flush: attach, damage, frame and feedback requests leave in one sendmsg()", 0);
  wl_display_flush(display);
  return {};
}

// Pace on the compositor: draw the next frame when it says so.
Result<void> Client::Impl::wait_for_frame_callback() {
  while (!frame_done) {
    if (closed) return Error{ECANCELED, "compositor closed the window"};
    if (auto r = dispatch("frame callback"); !r) return r;
  }
  return {};
}

// The overwrite experiment (--overwrite-proof; buffer/overwrite_marker.h).
//
// Why here, after the frame callback of frame n, and not right after the
// commit: the order of events must make the answer certain, not a race.
//   1. commit n      the compositor applies it: dmabuf hands our buffer to the
//                    display; shm copies it into a compositor buffer at once;
//                    socket already copied it out through the socket.
//   2. flip n        the display shows frame n (--verify reads it here, so the
//                    frame's checksum is of the frame as rendered).
//   3. frame done    sent at the refresh after that flip (the compositor's
//                    vblank handler runs after its flip handler): when it
//                    reaches us, 1 and 2 have happened.
//   4. marker        we write the marker into frame n's buffer, now: a
//                    dmabuf buffer is still on screen (it is released only
//                    when frame n+1 replaces it); an shm or socket buffer was
//                    copied long ago.
//   5. commit n+1    sent after 4 (program order, then a sendmsg): the
//                    compositor processes it after our writes are in memory.
//   6. flip n+1      just before frame n leaves the screen, --verify looks at
//                    the outgoing buffer once more, and finds the marker only
//                    if the display was reading our memory.
// Writing into a buffer the compositor has not released breaks the Wayland
// contract on purpose: it is the experiment, and it is what tearing is made of.
void Client::Impl::overwrite_after_shown(transport::Slot& slot, uint64_t n) {
  buffer::Buffer& b = *slot.buffer;
  if (!buffer::marker_fits(b.width(), b.height(), b.format())) {
    if (overwrite_skipped.empty()) overwrite_skipped = fmt::format("a {}x{} frame has no room for the {}-byte marker",
                                                                   b.width(), b.height(), buffer::kMarkerBytes);
    return;
  }
  // The CPU renderer mapped every buffer at allocation (this returns that
  // mapping); a GL renderer's GBM buffer gets its one CPU mapping here, the
  // first time, or says why it cannot have one.
  auto px = b.map(true);
  if (!px) {
    if (overwrite_skipped.empty())
      overwrite_skipped = fmt::format("no CPU mapping of the {} renderer's buffer: {}", renderer->name(), px.error().message());
    return;
  }
  b.begin_cpu_access(true);
  const bool wrote = buffer::write_marker({px->data(), b.width(), b.height(), b.stride(), b.format()}, n);
  b.end_cpu_access(true);
  if (!wrote) return;
  frames_marked++;
  // The marker is the client's CPU writing into pixel memory too (with any
  // renderer): it is charged to the frame whose window is open, n.
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(n)) r->notes.add_cpu_touched(buffer::kMarkerBytes);
  ZC_TRACE(fmt::format("overwrite proof: frame {} has been shown; the client now writes a marker into the buffer it drew "
                       "frame {} in ({}). If the display reads this memory, its last look at frame {} shows the marker; "
                       "if the compositor copied the frame, it cannot",
                       n, n, b.kind() == buffer::Kind::dmabuf ? "a dma-buf" : "a memfd", n),
           buffer::kMarkerBytes);
}

Result<void> Client::run() {
  Impl& c = *impl_;
  const uint64_t t0 = monotonic_ns();
  uint64_t last_progress = t0;
  for (uint64_t n = 0; n < c.cfg.frames; ++n) {
    if (auto r = c.follow_feedback(n); !r) return r;
    auto slot = c.wait_for_free_buffer();
    if (!slot) return slot.error();
    if (c.ledger != nullptr) c.ledger->begin_frame(n);
    if (auto r = c.render(**slot, n); !r) return r;
    if (auto r = c.submit_and_commit(**slot, n); !r) return r;
    if (auto r = c.wait_for_frame_callback(); !r) return r;
    if (c.cfg.overwrite_proof) c.overwrite_after_shown(**slot, n);
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
  const transport::Transport& t = *c.transport;
  const buffer::Buffer* first = t.first_buffer();
  nlohmann::json j;
  j["transport"] = transport_name(c.cfg.transport);
  j["chunk"] = c.cfg.chunk;
  j["allocator"] = t.allocator().name();
  j["allocator_description"] = t.allocator_description();
  j["buffer_kind"] = std::string(buffer::kind_name(t.allocator().kind()));
  j["width"] = c.cfg.width;
  j["height"] = c.cfg.height;
  j["format"] = format_name(c.cfg.format);
  // Per-surface dmabuf feedback (dmabuf v4): batches received (the first
  // included), ring reallocations it caused, and the first frame drawn into
  // the new ring (null: none).
  j["format_requested"] = format_name(c.format_requested);
  j["follow_feedback"] = c.cfg.follow_feedback;
  j["feedback_received"] = t.feedback_received();
  j["feedback_reallocations"] = c.feedback_reallocations;
  j["feedback_switch_frame"] = c.feedback_switch_frame ? nlohmann::json(*c.feedback_switch_frame) : nlohmann::json();
  j["frame_bytes"] = first == nullptr ? 0 : first->desc().plane0_extent();
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
  j["dmabuf_version"] = transport::dmabuf_version(c.globals);
  // dmabuf v4: whether the modifiers came from the display's scanout tranche.
  if (auto s = t.scanout_tranche()) j["dmabuf_scanout_tranche"] = *s;
  j["render"] = c.cfg.render == Render::full ? "full" : c.cfg.render == Render::header ? "header" : "none";
  if (first != nullptr) j["modifier"] = modifier_name(first->desc().modifier);
  j["renderer_requested"] = renderer_choice_name(c.cfg.renderer);
  j["renderer"] = c.renderer != nullptr ? c.renderer->name() : "";
  j["renderer_reason"] = c.renderer_reason;
  if (c.cfg.overwrite_proof)
    j["overwrite_proof"] = {{"frames_marked", c.frames_marked},
                            {"skipped", c.overwrite_skipped.empty() ? nlohmann::json() : nlohmann::json(c.overwrite_skipped)}};
  j["gl_renderer"] = c.renderer != nullptr && !c.renderer->driver().empty() ? nlohmann::json(c.renderer->driver()) : nlohmann::json();
  return j;
}

}  // namespace zc::client
