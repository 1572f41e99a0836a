// The core of the compositor: wl_compositor/wl_surface, and the commit →
// output → presented → released cycle that every frame goes through.
#include "server/server.h"

#include <fmt/core.h>
#include <signal.h>

#include <algorithm>

#include "common/log.h"
#include "common/clock.h"
#include "server/internal.h"

namespace zc::server {

// ---------------------------------------------------------------- wl_region
// Regions (opaque/input) do not matter to a compositor that shows one
// fullscreen surface, but clients create them, so they must exist.
namespace {
void resource_destroy(wl_client*, wl_resource* r) { wl_resource_destroy(r); }
void region_add(wl_client*, wl_resource*, int32_t, int32_t, int32_t, int32_t) {}
const struct wl_region_interface kRegionImpl = {resource_destroy, region_add, region_add};

// --------------------------------------------------------------- wl_surface
void surface_attach(wl_client*, wl_resource* r, wl_resource* buffer, int32_t, int32_t) {
  Surface* s = surface_from_resource(r);
  if (buffer != nullptr && client_buffer_from_resource(buffer) == nullptr) {
    s->server->post_error(r, WL_SURFACE_ERROR_INVALID_SIZE,
                          fmt::format("wl_buffer@{} is not a buffer this compositor made",
                                      wl_resource_get_id(buffer)));
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
  wl_resource_set_implementation(cb, nullptr, nullptr, nullptr);
  s->pending_frames.emplace_back(cb);
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

// The heart of the pipeline on the compositor side: a commit hands the
// client's buffer, untouched, to the output.
void Server::Impl::commit(Surface& s) {
  const bool attaching = s.pending_attach;
  wl_resource* buffer = s.pending_buffer.get();
  if (!xdg_check_commit(s, attaching && buffer != nullptr)) return;
  s.pending_attach = false;
  s.pending_buffer.reset();

  for (auto& f : s.pending_frames) s.frames.push_back(std::move(f));
  s.pending_frames.clear();
  std::vector<ResourceRef> feedbacks = std::move(s.pending_feedbacks);
  s.pending_feedbacks.clear();

  if (attaching && buffer == nullptr) {
    unmap(s);
  } else if (attaching) {
    ClientBuffer* cb = client_buffer_from_resource(buffer);
    const uint64_t frame = commit_seq++;
    if (ledger != nullptr) {
      ledger->begin_frame(frame);
      auto& a = ledger->annotate(frame);
      a["commit_ns"] = monotonic_ns();
      a["surface_commit"] = s.commits;
      a["buffer_kind"] = std::string(buffer::kind_name(cb->storage->kind()));
    }
    counters.commits++;
    s.commits++;
    if (!s.mapped && s.toplevel != nullptr) {
      s.mapped = true;
      stack.push_back(&s);
    }
    if (top() == &s) {
      // Zero-copy: the output receives a reference to the client's own memory.
      const uint64_t tag = next_tag++;
      InFlight& f = inflight[tag];
      f.surface = &s;
      f.buffer.reset(buffer);
      f.feedbacks = std::move(feedbacks);
      f.ledger_frame = frame;
      cb->busy++;
      out->present(cb->storage, tag, /*client_owned=*/true);
    } else {
      // Occluded: nothing reads this buffer; the one before it is free now.
      if (s.held_buffer && s.held_buffer.get() != buffer) release_buffer(s.held_buffer.get());
      s.held_buffer.reset(buffer);
      for (auto& fb : feedbacks)
        if (fb) send_feedback_discarded(fb.get());
      counters.discarded++;
    }
  } else {
    for (auto& fb : feedbacks)
      if (fb) send_feedback_discarded(fb.get());
  }
  if (!s.frames.empty()) out->schedule_vblank();
}

void Server::Impl::release_buffer(wl_resource* buffer) {
  if (buffer == nullptr) return;
  ClientBuffer* cb = client_buffer_from_resource(buffer);
  if (cb == nullptr) return;
  if (cb->busy > 0) cb->busy--;
  if (cb->busy == 0) {
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
}

void Server::Impl::surface_destroyed(Surface& s) {
  unmap(s);
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
  for (auto& fb : f.feedbacks)
    if (fb) send_feedback_presented(*this, fb.get(), p);
  f.feedbacks.clear();
  if (ledger != nullptr) {
    auto& a = ledger->annotate(f.ledger_frame);
    a["presented_ns"] = p.time_ns;
    a["msc"] = p.seq;
    a["zero_copy"] = p.zero_copy;
    if (p.checksum) a["checksum"] = fmt::format("{:016x}", *p.checksum);
    if (p.decoded_frame) a["shown_frame"] = *p.decoded_frame;
  }
}

void Server::Impl::on_discarded(uint64_t tag) {
  auto it = inflight.find(tag);
  if (it == inflight.end()) return;
  counters.discarded++;
  for (auto& fb : it->second.feedbacks)
    if (fb) send_feedback_discarded(fb.get());
  if (ledger != nullptr) ledger->annotate(it->second.ledger_frame)["discarded"] = true;
  release_buffer(it->second.buffer.get());
  inflight.erase(it);
}

void Server::Impl::on_released(uint64_t tag) {
  auto it = inflight.find(tag);
  if (it == inflight.end()) return;
  release_buffer(it->second.buffer.get());
  inflight.erase(it);
}

void Server::Impl::on_vblank(uint64_t time_ns) {
  const auto ms = static_cast<uint32_t>(time_ns / 1'000'000);
  for (Surface* s : stack) {
    for (auto& f : s->frames)
      if (f) {
        wl_resource* cb = f.take();
        wl_callback_send_done(cb, ms);
        wl_resource_destroy(cb);
      }
    s->frames.clear();
  }
}

Server::Impl::~Impl() {
  if (sigterm != nullptr) wl_event_source_remove(sigterm);
  if (sigint != nullptr) wl_event_source_remove(sigint);
  if (display != nullptr) {
    wl_display_destroy_clients(display);
    out.reset();
    wl_display_destroy(display);
  }
}

// ------------------------------------------------------------------ Server
Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(const ServerConfig& config) {
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
      return Error::from_errno(fmt::format("cannot listen on socket '{}' in $XDG_RUNTIME_DIR (in use, or XDG_RUNTIME_DIR unset?)",
                                           config.socket_name));
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

Result<void> Server::start(std::unique_ptr<output::Output> out, stats::FrameLedger* ledger) {
  Impl* impl = impl_.get();
  impl->out = std::move(out);
  impl->ledger = ledger;
  impl->formats = impl->out->scanout_formats();
  impl->out->set_callbacks(output::Callbacks{
      [impl](uint64_t tag, const output::Presented& p) { impl->on_presented(tag, p); },
      [impl](uint64_t tag) { impl->on_discarded(tag); },
      [impl](uint64_t tag) { impl->on_released(tag); },
      [impl](uint64_t t) { impl->on_vblank(t); },
  });
  if (auto r = impl->init_compositor(); !r) return r;
  if (auto r = impl->init_xdg_shell(); !r) return r;
  if (auto r = impl->init_linux_dmabuf(); !r) return r;
  if (auto r = impl->init_presentation_and_output(); !r) return r;
  return {};
}

void Server::run() { wl_display_run(impl_->display); }
void Server::terminate() { wl_display_terminate(impl_->display); }

}  // namespace zc::server
