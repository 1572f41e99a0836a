// The core of the compositor: wl_compositor/wl_surface, and the commit →
// output → presented → released cycle that every frame goes through.
#include "server/server.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <signal.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include <algorithm>

#include "common/format.h"
#include "common/log.h"
#include "common/clock.h"
#include "server/internal.h"
#include "stats/trace.h"

namespace zc::server {

// ---------------------------------------------------------------- wl_region
// Regions (opaque/input) do not matter to a compositor that shows one
// fullscreen surface, but clients create them, so they must exist.
namespace {
void resource_destroy(wl_client*, wl_resource* r) { wl_resource_destroy(r); }
void region_add(wl_client*, wl_resource*, int32_t, int32_t, int32_t, int32_t) {}
const struct wl_region_interface kRegionImpl = {resource_destroy, region_add, region_add};

// --------------------------------------------------------------- wl_surface
void surface_attach(wl_client* client, wl_resource* r, wl_resource* buffer, int32_t, int32_t) {
  Surface* s = surface_from_resource(r);
  if (buffer != nullptr && client_buffer_from_resource(buffer) == nullptr && wl_shm_buffer_get(buffer) == nullptr) {
    // Not a size problem (wl_surface's own error codes are about scale,
    // transform, size and offset): the object itself is one this compositor
    // cannot use. That is wl_display's invalid_object, posted on the
    // client's wl_display (object 1), as libwayland does for unknown ids.
    // libwayland already type-checks the argument, so this only triggers
    // for a wl_buffer made by a protocol the compositor does not read.
    if (wl_resource* display = wl_client_get_object(client, 1))
      s->server->post_error(display, WL_DISPLAY_ERROR_INVALID_OBJECT,
                            fmt::format("wl_surface@{}.attach: wl_buffer@{} is neither a wl_shm nor a linux-dmabuf "
                                        "buffer of this compositor",
                                        wl_resource_get_id(r), wl_resource_get_id(buffer)));
    return;
  }
  s->pending_buffer.reset(buffer);
  s->pending_attach = true;
}

void surface_damage(wl_client*, wl_resource*, int32_t, int32_t, int32_t, int32_t) {
  // Damage tells a compositor what to recomposite. With direct scanout the
  // whole buffer is shown as it is, so there is nothing to redraw.
}

void surface_frame(wl_client* client, wl_resource* r, uint32_t id) {
  Surface* s = surface_from_resource(r);
  wl_resource* cb = wl_resource_create(client, &wl_callback_interface, 1, id);
  if (cb == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(cb, nullptr, nullptr, &ResourceList::unlink_on_destroy);
  s->pending_frames.push_back(cb);
}

void surface_set_region(wl_client*, wl_resource*, wl_resource*) {}

void surface_commit(wl_client*, wl_resource* r) {
  Surface* s = surface_from_resource(r);
  s->server->commit(*s);
}

void surface_set_transform(wl_client*, wl_resource* r, int32_t transform) {
  if (transform != WL_OUTPUT_TRANSFORM_NORMAL)
    surface_from_resource(r)->server->post_error(
        r, WL_SURFACE_ERROR_INVALID_TRANSFORM,
        fmt::format("buffer transform {} is not supported: buffers are scanned out as they are", transform));
}

void surface_set_scale(wl_client*, wl_resource* r, int32_t scale) {
  if (scale != 1)
    surface_from_resource(r)->server->post_error(
        r, WL_SURFACE_ERROR_INVALID_SCALE, fmt::format("buffer scale {} is not supported (only 1)", scale));
}

const struct wl_surface_interface kSurfaceImpl = {
    resource_destroy, surface_attach,      surface_damage,    surface_frame,
    surface_set_region, surface_set_region, surface_commit,   surface_set_transform,
    surface_set_scale, surface_damage,     nullptr /* offset: v5, not advertised */};

void surface_resource_destroyed(wl_resource* r) {
  Surface* s = static_cast<Surface*>(wl_resource_get_user_data(r));
  s->server->surface_destroyed(*s);
  delete s;
}

// ------------------------------------------------------------ wl_compositor
void compositor_create_surface(wl_client* client, wl_resource* r, uint32_t id) {
  auto* server = static_cast<Server::Impl*>(wl_resource_get_user_data(r));
  wl_resource* res = wl_resource_create(client, &wl_surface_interface, wl_resource_get_version(r), id);
  if (res == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  auto* s = new Surface;
  s->server = server;
  s->resource = res;
  wl_resource_set_implementation(res, &kSurfaceImpl, s, &surface_resource_destroyed);
}

void compositor_create_region(wl_client* client, wl_resource* r, uint32_t id) {
  wl_resource* res = wl_resource_create(client, &wl_region_interface, wl_resource_get_version(r), id);
  if (res == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(res, &kRegionImpl, nullptr, nullptr);
}

const struct wl_compositor_interface kCompositorImpl = {compositor_create_surface, compositor_create_region};

void bind_compositor(wl_client* client, void* data, uint32_t version, uint32_t id) {
  wl_resource* r = wl_resource_create(client, &wl_compositor_interface, static_cast<int>(version), id);
  if (r == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(r, &kCompositorImpl, data, nullptr);
}

int on_signal(int, void* data) {
  wl_display_terminate(static_cast<wl_display*>(data));
  return 0;
}

struct ClientWatch {
  wl_listener destroyed;
  Server::Impl* server;
};

void on_client_destroyed(wl_listener* l, void*) {
  ClientWatch* w = wl_container_of(l, w, destroyed);
  w->server->counters.clients_disconnected++;
  // The frame window of the last commit ends when its client leaves.
  if (w->server->ledger != nullptr) w->server->ledger->end_frame();
  const uint64_t limit = w->server->config.exit_after_clients;
  if (limit != 0 && w->server->counters.clients_disconnected >= limit) wl_display_terminate(w->server->display);
  delete w;
}

void on_client_created(wl_listener* l, void* data) {
  Server::Impl::ClientCreated* cc = wl_container_of(l, cc, listener);
  Server::Impl* server = cc->impl;
  server->counters.clients_connected++;
  auto* w = new ClientWatch{{}, server};
  w->destroyed.notify = &on_client_destroyed;
  wl_client_add_destroy_listener(static_cast<wl_client*>(data), &w->destroyed);
}

}  // namespace

Surface* surface_from_resource(wl_resource* r) {
  return static_cast<Surface*>(wl_resource_get_user_data(r));
}

Result<void> Server::Impl::init_compositor() {
  // Version 4: damage_buffer; version 5's offset request is not needed here.
  if (wl_global_create(display, &wl_compositor_interface, 4, this, &bind_compositor) == nullptr)
    return Error{ENOMEM, "cannot create wl_compositor global"};
  return {};
}

void Server::Impl::post_error(wl_resource* r, uint32_t code, const std::string& msg) {
  counters.protocol_errors++;
  log::warn("client error on {}@{}: {}", wl_resource_get_class(r), wl_resource_get_id(r), msg);
  wl_resource_post_error(r, code, "%s", msg.c_str());
}

// The heart of the pipeline on the compositor side. A commit applies the
// surface's pending state; what it shows arrives one of three ways:
//   dmabuf  a reference to the client's own buffer goes to the output (0 copies)
//   shm     the compositor copies the client's shared memory into a scanout buffer
//   socket  the pixels came through the data socket into a staging buffer and
//           are copied from there into a scanout buffer
void Server::Impl::commit(Surface& s) {
  const bool attaching = s.pending_attach;
  wl_resource* buffer = s.pending_buffer.get();
  const bool stream_attach = s.stream != nullptr && stream_attach_pending(*s.stream);
  if (!xdg_check_commit(s, (attaching && buffer != nullptr) || stream_attach)) return;
  s.pending_attach = false;
  s.pending_buffer.reset();
  // The pending callbacks and feedbacks belong to this commit now (two
  // list heads on the stack: nothing is allocated).
  ResourceList frames, feedbacks;
  frames.take_all(s.pending_frames);
  feedbacks.take_all(s.pending_feedbacks);

  CommitContent c;
  if (stream_attach) {
    switch (stream_take_commit(s, c, frames, feedbacks)) {
      case StreamCommit::deferred:  // applied when the frame's last byte arrives
      case StreamCommit::failed: return;
      case StreamCommit::ready:
      case StreamCommit::none: break;
    }
  } else if (attaching && buffer == nullptr) {
    s.has_buffer = false;
    unmap(s);
  } else if (attaching) {
    // A wl_shm buffer is checked against its pool before anything reads it
    // (libwayland 1.21 lets a stride shorter than a row through).
    if (!check_shm_buffer(buffer)) return;
    c.buffer = buffer;
    c.kind = client_buffer_from_resource(buffer) != nullptr ? CommitContent::Kind::dmabuf : CommitContent::Kind::shm;
  }
  apply_commit(s, c, frames, feedbacks);
}

uint64_t Server::Impl::open_ledger_frame() {
  const uint64_t frame = commit_seq++;
  if (ledger != nullptr) ledger->begin_frame(frame);
  return frame;
}

void Server::Impl::apply_commit(Surface& s, const CommitContent& c, ResourceList& frames, ResourceList& feedbacks) {
  s.frames.take_all(frames);
  if (c.kind == CommitContent::Kind::none) {
    discard_feedbacks(feedbacks);
    if (!s.frames.empty()) out->schedule_vblank();
    return;
  }
  const uint64_t frame = c.kind == CommitContent::Kind::socket ? c.ledger_frame : open_ledger_frame();
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(frame)) {
      // The commit is applied at the start of its window: no second clock read.
      r->notes.set_commit(r->start_ns);
      r->notes.set_surface_commit(s.commits);
    }
  counters.commits++;
  s.commits++;
  s.has_buffer = true;
  if (!s.mapped && s.toplevel != nullptr) {
    s.mapped = true;
    stack.push_back(&s);
  }

  if (top() != &s) {
    // Occluded: nothing reads this content. A shm buffer is free at once; a
    // dmabuf is held (it may be shown later) and the one before it released.
    if (c.kind == CommitContent::Kind::dmabuf) {
      if (s.held_buffer && s.held_buffer.get() != c.buffer) release_buffer(s.held_buffer.get());
      s.held_buffer.reset(c.buffer);
    } else if (c.kind == CommitContent::Kind::shm) {
      wl_buffer_send_release(c.buffer);
    }
    discard_feedbacks(feedbacks);
    counters.discarded++;
  } else if (c.kind == CommitContent::Kind::dmabuf) {
    // Zero-copy: the output receives a reference to the client's own memory.
    ClientBuffer* cb = client_buffer_from_resource(c.buffer);
    ZC_TRACE(fmt::format("commit applied: the client's {} (imported once, at wl_buffer creation) goes to the output as it is: 0 bytes copied",
                         std::string(buffer::kind_name(cb->storage->kind()))),
             0);
    if (ledger != nullptr)
      if (stats::FrameRecord* r = ledger->record(frame)) r->notes.buffer_kind = buffer::kind_name(cb->storage->kind()).data();
    const uint64_t tag = next_tag++;
    const auto slot = inflight.insert(tag);
    if (slot == inflight.end()) {
      // More frames in flight than the output ever holds: a bug, not a load.
      drop_frame(s, frame, feedbacks, fmt::format("{} frames already in flight", InFlightRing::kSlots));
      wl_buffer_send_release(c.buffer);
    } else {
      InFlight& f = slot->second;
      f.surface = &s;
      f.buffer.reset(c.buffer);
      f.feedbacks.take_all(feedbacks);
      f.ledger_frame = frame;
      cb->busy++;
      out->present(cb->storage, tag, /*client_owned=*/true);
    }
  } else {
    present_copy(s, c, frame, feedbacks);
  }
  if (c.kind == CommitContent::Kind::socket && s.stream != nullptr) stream_frame_consumed(*s.stream);
  if (!s.frames.empty()) out->schedule_vblank();
}

// The copying paths end here: the display cannot read the client's memory,
// so the CPU copies every pixel into a buffer the compositor owns.
void Server::Impl::present_copy(Surface& s, const CommitContent& c, uint64_t frame, ResourceList& feedbacks) {
  uint32_t width = c.width, height = c.height, stride = c.stride, format = c.format;
  wl_shm_buffer* shm = nullptr;
  if (c.kind == CommitContent::Kind::shm) {
    shm = wl_shm_buffer_get(c.buffer);
    width = static_cast<uint32_t>(wl_shm_buffer_get_width(shm));
    height = static_cast<uint32_t>(wl_shm_buffer_get_height(shm));
    stride = static_cast<uint32_t>(wl_shm_buffer_get_stride(shm));
    format = shm_to_drm_format(wl_shm_buffer_get_format(shm));
  }
  const FormatInfo* info = format_info(format);
  // On KMS the buffer is the whole screen: a smaller window goes into the
  // top-left corner of a mode-sized buffer. ARGB8888 has XRGB8888's bytes;
  // the plane ignores alpha, so it is shown as XRGB8888 without converting.
  uint32_t buf_w = width, buf_h = height, buf_format = format;
  if (const output::Mode m = out->mode(); out->scanout_covers_mode() && width <= m.width && height <= m.height) {
    buf_w = m.width;
    buf_h = m.height;
    if (format == DRM_FORMAT_ARGB8888) buf_format = DRM_FORMAT_XRGB8888;
  }
  // A lease on a buffer the display does not read: it stays with the frame
  // (InFlight) until the output reports it released or discarded.
  auto lease = info != nullptr ? scanout->acquire(buf_w, buf_h, buf_format)
                               : Result<buffer::ScanoutLease>(Error{EINVAL, "unsupported format " + format_name(format)});
  if (!lease) {
    if (shm != nullptr) wl_buffer_send_release(c.buffer);
    drop_frame(s, frame, feedbacks, "no scanout buffer: " + lease.error().message());
    return;
  }
  const uint32_t row_bytes = width * info->bytes_per_pixel;
  Result<uint64_t> copied = uint64_t{0};
  if (shm != nullptr) {
    // begin/end_access guard against a client that shrank its pool: a SIGBUS
    // is caught by libwayland, and end_access then posts an error to that
    // client instead of crashing the compositor.
    wl_shm_buffer_begin_access(shm);
    copied = lease->copy_into(static_cast<const uint8_t*>(wl_shm_buffer_get_data(shm)), stride, row_bytes, height);
    wl_shm_buffer_end_access(shm);
    // The compositor has its own copy now: the client may reuse its buffer.
    wl_buffer_send_release(c.buffer);
  } else {
    copied = lease->copy_into(c.pixels, stride, row_bytes, height);
  }
  if (!copied) {
    drop_frame(s, frame, feedbacks, copied.error().message());  // the lease ends here: the buffer is idle again
    return;
  }
  ZC_TRACE(c.kind == CommitContent::Kind::shm
               ? "commit applied: memcpy of the client's wl_shm buffer into a compositor scanout buffer (the one CPU copy of shm); wl_buffer.release sent at once"
               : "commit applied: memcpy of the staging buffer into a compositor scanout buffer (CPU copy 3 of 3)",
           *copied);
  if (ledger != nullptr) {
    ledger->copy(*copied, c.kind == CommitContent::Kind::shm ? "memcpy: wl_shm buffer -> scanout buffer"
                                                             : "memcpy: staging buffer -> scanout buffer");
    if (stats::FrameRecord* r = ledger->record(frame)) r->notes.buffer_kind = c.kind == CommitContent::Kind::shm ? "wl_shm" : "socket";
  }
  const uint64_t tag = next_tag++;
  const auto in = inflight.insert(tag);
  if (in == inflight.end()) {
    drop_frame(s, frame, feedbacks, fmt::format("{} frames already in flight", InFlightRing::kSlots));
    return;
  }
  InFlight& f = in->second;
  f.surface = &s;
  f.feedbacks.take_all(feedbacks);
  f.ledger_frame = frame;
  f.scanout = std::move(*lease);
  out->present(f.scanout.shared_buffer(), tag, /*client_owned=*/false);
}

void Server::Impl::drop_frame(Surface& s, uint64_t frame, ResourceList& feedbacks, const std::string& why) {
  // Once per surface at warning level: a client that keeps sending frames
  // the compositor cannot show must not flood the log.
  if (!s.warned_drop) log::warn("frame {} dropped: {} (further drops of this surface at debug level)", frame, why);
  else log::debug("frame {} dropped: {}", frame, why);
  s.warned_drop = true;
  discard_feedbacks(feedbacks);
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(frame)) r->notes.set_discarded();
  counters.discarded++;
}

uint32_t shm_to_drm_format(uint32_t shm_format) {
  // wl_shm's only two codes that differ from DRM fourccs.
  if (shm_format == WL_SHM_FORMAT_ARGB8888) return DRM_FORMAT_ARGB8888;
  if (shm_format == WL_SHM_FORMAT_XRGB8888) return DRM_FORMAT_XRGB8888;
  return shm_format;
}

Result<void> Server::Impl::init_shm() {
  // libwayland implements wl_shm itself (pools, buffers, the SIGBUS guard);
  // ARGB8888 and XRGB8888 are always offered, RGB888 for the 24-bit baseline.
  if (wl_display_init_shm(display) != 0) return Error{ENOMEM, "cannot create wl_shm global"};
  if (auto r = init_shm_tracking(); !r) return r;
  wl_display_add_shm_format(display, DRM_FORMAT_RGB888);
  return {};
}

void Server::Impl::release_buffer(wl_resource* buffer) {
  if (buffer == nullptr) return;
  ClientBuffer* cb = client_buffer_from_resource(buffer);
  if (cb == nullptr) return;
  if (cb->busy > 0) cb->busy--;
  if (cb->busy == 0) {
    ZC_TRACE("wl_buffer.release queued for the buffer of an earlier frame, the one that just left the screen (not this frame's): the display no longer reads it", 0);
    wl_buffer_send_release(buffer);
    counters.released++;
  }
}

void Server::Impl::unmap(Surface& s) {
  std::vector<uint64_t> tags;
  for (auto& [tag, f] : inflight)
    if (f.surface == &s) tags.push_back(tag);
  std::sort(tags.begin(), tags.end());
  for (uint64_t t : tags) out->withdraw(t);  // calls back released / discarded
  if (s.held_buffer) wl_buffer_send_release(s.held_buffer.get());
  s.held_buffer.reset();
  s.mapped = false;
  std::erase(stack, &s);
  // The withdrawn frames' leases have ended: give idle scanout buffers back
  // to the system, so a client that leaves (or hides its window) does not
  // leave hundreds of MB behind. Another copying client still on screen at
  // most allocates its spare buffer once more.
  if (scanout) scanout->release_idle();
}

void Server::Impl::surface_destroyed(Surface& s) {
  unmap(s);
  if (s.stream != nullptr) stream_surface_destroyed(*s.stream);
  // Role objects may outlive the surface when a client disconnects.
  if (s.xdg_surface != nullptr) wl_resource_set_user_data(s.xdg_surface, nullptr);
  if (s.toplevel != nullptr) wl_resource_set_user_data(s.toplevel, nullptr);
  for (auto& [tag, f] : inflight)
    if (f.surface == &s) f.surface = nullptr;
}

void Server::Impl::on_presented(uint64_t tag, const output::Presented& p) {
  auto it = inflight.find(tag);
  if (it == inflight.end()) return;
  InFlight& f = it->second;
  counters.presented++;
  if (p.zero_copy) counters.zero_copy++;
  ZC_TRACE(fmt::format("on screen at vblank #{} (the display's refresh counter, not a rate): wp_presentation_feedback.presented queued{}", p.seq,
                       p.zero_copy ? " with ZERO_COPY" : ""),
           0);
  f.feedbacks.drain([this, &p](wl_resource* fb) { send_feedback_presented(*this, fb, p); });
  // Where the compositor learns why a client's dma-buf was copied: the one
  // place that can tell the client (per-surface dmabuf feedback).
  if (f.surface != nullptr && client_buffer_from_resource(f.buffer.get()) != nullptr)
    surface_feedback_learned(*this, *f.surface, p.reasons);
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(f.ledger_frame)) {
      r->notes.set_presented(p.time_ns, p.seq, p.zero_copy);
      r->notes.scanout = p.direct ? stats::Scanout::direct : stats::Scanout::copy;
      // Every blocker, as the output's typed bits: named (and described) only
      // when the JSON is written at exit (FrameLedger::set_reason_names).
      r->notes.scanout_reasons = p.reasons.bits();
      if (p.checksum) r->notes.set_checksum(*p.checksum);
      if (p.decoded_frame) r->notes.set_shown_frame(*p.decoded_frame);
      r->notes.verify_read = output::verify_read_name(p.verify_read);
      if (p.fence)
        r->notes.set_fence(p.fence->attached, p.fence->signal_after_ns, p.fence->wait_ns, p.fence->flip_after_ns,
                           p.fence->out_fence);
      if (p.copy_fence) r->notes.set_copy_fence(p.copy_fence->waited, p.copy_fence->wait_ns);
    }
}

void Server::Impl::on_output_copied(uint64_t tag, uint64_t bytes, const char* where) {
  auto it = inflight.find(tag);
  if (ledger == nullptr) return;
  // Charged to the frame being shown, even if its window already closed.
  if (it != inflight.end())
    if (stats::FrameRecord* r = ledger->record(it->second.ledger_frame)) r->notes.set_output_copy(bytes);
  // The ledger keeps `where` as a pointer (no string per frame), and the
  // output's text is built per copy: record a fixed label; the why is in the
  // frame's scanout_reason.
  (void)where;
  ledger->copy(bytes, "output: frame -> the output's own scanout buffer (fallback copy, see scanout_reason)");
}

void Server::Impl::on_discarded(uint64_t tag) {
  auto it = inflight.find(tag);
  if (it == inflight.end()) return;
  counters.discarded++;
  discard_feedbacks(it->second.feedbacks);
  if (ledger != nullptr)
    if (stats::FrameRecord* r = ledger->record(it->second.ledger_frame)) r->notes.set_discarded();
  release_buffer(it->second.buffer.get());
  inflight.erase(it);
}

void Server::Impl::on_released(uint64_t tag) {
  auto it = inflight.find(tag);
  if (it == inflight.end()) return;
  release_buffer(it->second.buffer.get());
  inflight.erase(it);  // ends the scanout lease, if any: the display no longer reads that buffer
}

void Server::Impl::on_vblank(uint64_t time_ns) {
  const auto ms = static_cast<uint32_t>(time_ns / 1'000'000);
  ZC_TRACE("vblank: frame callbacks (wl_callback.done) queued; libwayland sends everything queued at the next flush", 0);
  for (Surface* s : stack)
    s->frames.drain([ms](wl_resource* cb) {
      wl_callback_send_done(cb, ms);
      wl_resource_destroy(cb);
    });
}

Server::Impl::~Impl() {
  if (sigterm != nullptr) wl_event_source_remove(sigterm);
  if (sigint != nullptr) wl_event_source_remove(sigint);
  if (display != nullptr) {
    wl_display_destroy_clients(display);
    scanout = nullptr;  // the output owns the planner
    out.reset();
    if (shm_logger != nullptr) wl_protocol_logger_destroy(shm_logger);
    wl_display_destroy(display);
  }
}

// ------------------------------------------------------------------ Server
Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

namespace {
// libwayland's own messages ("error in client communication", lock file
// problems) go through our log, at debug level: the decisions that matter
// are logged once where zcpipe makes them.
void wayland_log(const char* format, va_list ap) { log::debug("libwayland: {}", log::c_log_line(format, ap)); }
}  // namespace

Result<std::unique_ptr<Server>> Server::create(const ServerConfig& config) {
  wl_log_set_handler_server(&wayland_log);
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->display = wl_display_create();
  if (impl->display == nullptr) return Error::from_errno("wl_display_create");
  if (config.socket_name.empty()) {
    const char* name = wl_display_add_socket_auto(impl->display);
    if (name == nullptr) return Error::from_errno("cannot create a Wayland socket in $XDG_RUNTIME_DIR");
    impl->socket = name;
  } else {
    if (wl_display_add_socket(impl->display, config.socket_name.c_str()) != 0)
      return Error{0, fmt::format("cannot listen on socket '{}' in {}: another compositor is using that name "
                                  "(pick another with --socket), or the directory is not writable",
                                  config.socket_name, std::getenv("XDG_RUNTIME_DIR") ? std::getenv("XDG_RUNTIME_DIR") : "$XDG_RUNTIME_DIR")};
    impl->socket = config.socket_name;
  }
  wl_event_loop* loop = wl_display_get_event_loop(impl->display);
  impl->sigterm = wl_event_loop_add_signal(loop, SIGTERM, &on_signal, impl->display);
  impl->sigint = wl_event_loop_add_signal(loop, SIGINT, &on_signal, impl->display);
  impl->client_created.impl = impl.get();
  impl->client_created.listener.notify = &on_client_created;
  wl_display_add_client_created_listener(impl->display, &impl->client_created.listener);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

wl_event_loop* Server::loop() const { return wl_display_get_event_loop(impl_->display); }
wl_display* Server::display() const { return impl_->display; }
const std::string& Server::socket_name() const { return impl_->socket; }
const ServerCounters& Server::counters() const { return impl_->counters; }
output::Output& Server::output() { return *impl_->out; }
std::vector<std::pair<const char*, uint64_t>> Server::scanout_counters() const {
  if (!impl_->scanout) return {};
  return impl_->scanout->counters();
}

Result<void> Server::start(std::unique_ptr<output::Output> out, stats::FrameLedger* ledger) {
  Impl* impl = impl_.get();
  impl->out = std::move(out);
  impl->ledger = ledger;
  impl->formats = impl->out->importable_formats();
  impl->scanout_formats = impl->out->scanout_formats();
  auto planner = impl->out->scanout_planner();
  if (!planner) return planner.error();
  impl->scanout = *planner;
  impl->out->set_callbacks(output::Callbacks{
      [impl](uint64_t tag, const output::Presented& p) { impl->on_presented(tag, p); },
      [impl](uint64_t tag) { impl->on_discarded(tag); },
      [impl](uint64_t tag) { impl->on_released(tag); },
      [impl](uint64_t t) { impl->on_vblank(t); },
      [impl](uint64_t tag, uint64_t bytes, const char* where) { impl->on_output_copied(tag, bytes, where); },
  });
  // libwayland creates the timerfd behind all event-loop timers on first use
  // and keeps it; create it now so it is part of the fd baseline, not a leak.
  if (wl_event_source* t = wl_event_loop_add_timer(wl_display_get_event_loop(impl->display), [](void*) { return 0; }, nullptr))
    wl_event_source_remove(t);
  if (auto r = impl->init_compositor(); !r) return r;
  if (auto r = impl->init_xdg_shell(); !r) return r;
  if (auto r = impl->init_linux_dmabuf(); !r) return r;
  if (auto r = impl->init_presentation_and_output(); !r) return r;
  if (auto r = impl->init_shm(); !r) return r;
  if (auto r = impl->init_socket_baseline(); !r) return r;
  return {};
}

void Server::run() { wl_display_run(impl_->display); }

void Server::shutdown() {
  wl_display_destroy_clients(impl_->display);
  if (impl_->scanout) impl_->scanout->release_idle();
  // Last, with no client left to present anything: the output's teardown,
  // so that its counters (framebuffers removed, live) are final when the
  // compositor writes them.
  if (impl_->out) impl_->out->close();
}
void Server::terminate() { wl_display_terminate(impl_->display); }

}  // namespace zc::server
