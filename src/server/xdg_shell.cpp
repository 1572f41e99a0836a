// xdg-shell: turns a wl_surface into a window. zcpipe shows every toplevel
// fullscreen at the output's size. The configure/ack handshake matters: a
// client may attach a buffer only after it acknowledged a configure, so it
// knows the size to render at.
#include <fmt/core.h>

#include "server/internal.h"
#include "xdg-shell-server-protocol.h"

namespace zc::server {
namespace {

void destroy_res(wl_client*, wl_resource* r) { wl_resource_destroy(r); }

// ------------------------------------------------------------- xdg_toplevel
void tl_set_parent(wl_client*, wl_resource*, wl_resource*) {}
void tl_set_string(wl_client*, wl_resource*, const char*) {}
void tl_show_menu(wl_client*, wl_resource*, wl_resource*, uint32_t, int32_t, int32_t) {}
void tl_move(wl_client*, wl_resource*, wl_resource*, uint32_t) {}
void tl_resize(wl_client*, wl_resource*, wl_resource*, uint32_t, uint32_t) {}
void tl_set_size(wl_client*, wl_resource*, int32_t, int32_t) {}
void tl_noop(wl_client*, wl_resource*) {}
void tl_set_fullscreen(wl_client*, wl_resource*, wl_resource*) {}

const struct xdg_toplevel_interface kToplevelImpl = {
    destroy_res, tl_set_parent, tl_set_string, tl_set_string, tl_show_menu, tl_move,  tl_resize,
    tl_set_size, tl_set_size,   tl_noop,       tl_noop,       tl_set_fullscreen, tl_noop, tl_noop};

void toplevel_destroyed(wl_resource* r) {
  auto* s = static_cast<Surface*>(wl_resource_get_user_data(r));
  if (s == nullptr) return;
  s->server->unmap(*s);
  s->toplevel = nullptr;
}

// Every configure is fullscreen at the output's size.
void send_configure(Surface& s) {
  const output::Mode m = s.server->out->mode();
  wl_array states;
  wl_array_init(&states);
  for (uint32_t st : {XDG_TOPLEVEL_STATE_FULLSCREEN, XDG_TOPLEVEL_STATE_ACTIVATED}) {
    auto* p = static_cast<uint32_t*>(wl_array_add(&states, sizeof(uint32_t)));
    if (p != nullptr) *p = st;
  }
  xdg_toplevel_send_configure(s.toplevel, static_cast<int32_t>(m.width), static_cast<int32_t>(m.height), &states);
  wl_array_release(&states);
  s.configure_serial = wl_display_next_serial(s.server->display);
  xdg_surface_send_configure(s.xdg_surface, s.configure_serial);
}

// -------------------------------------------------------------- xdg_surface
void xs_get_toplevel(wl_client* client, wl_resource* r, uint32_t id) {
  auto* s = static_cast<Surface*>(wl_resource_get_user_data(r));
  if (s == nullptr) return;
  if (s->toplevel != nullptr) {
    s->server->post_error(r, XDG_SURFACE_ERROR_ALREADY_CONSTRUCTED, "xdg_surface already has a toplevel role");
    return;
  }
  wl_resource* tl = wl_resource_create(client, &xdg_toplevel_interface, wl_resource_get_version(r), id);
  if (tl == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(tl, &kToplevelImpl, s, &toplevel_destroyed);
  s->toplevel = tl;
  send_configure(*s);
}

void xs_get_popup(wl_client* client, wl_resource* r, uint32_t id, wl_resource*, wl_resource*) {
  // Popups are out of scope: create the object so the client stays in sync,
  // and dismiss it at once (what a compositor does with a popup it won't show).
  wl_resource* p = wl_resource_create(client, &xdg_popup_interface, wl_resource_get_version(r), id);
  if (p == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  static const struct xdg_popup_interface kPopupImpl = {
      destroy_res, [](wl_client*, wl_resource*, wl_resource*, uint32_t) {},
      [](wl_client*, wl_resource*, wl_resource*, uint32_t) {}};
  wl_resource_set_implementation(p, &kPopupImpl, nullptr, nullptr);
  xdg_popup_send_popup_done(p);
}

void xs_set_window_geometry(wl_client*, wl_resource*, int32_t, int32_t, int32_t, int32_t) {}

void xs_ack_configure(wl_client*, wl_resource* r, uint32_t serial) {
  auto* s = static_cast<Surface*>(wl_resource_get_user_data(r));
  if (s == nullptr) return;
  if (s->configure_serial == 0 || serial != s->configure_serial) {
    s->server->post_error(r, XDG_SURFACE_ERROR_INVALID_SERIAL,
                          fmt::format("ack_configure serial {} was never sent (last sent: {})", serial,
                                      s->configure_serial));
    return;
  }
  s->acked = true;
}

const struct xdg_surface_interface kXdgSurfaceImpl = {destroy_res, xs_get_toplevel, xs_get_popup,
                                                      xs_set_window_geometry, xs_ack_configure};

void xdg_surface_destroyed(wl_resource* r) {
  auto* s = static_cast<Surface*>(wl_resource_get_user_data(r));
  if (s == nullptr) return;
  s->xdg_surface = nullptr;
  s->acked = false;
}

// ------------------------------------------------------------- xdg_wm_base
void wm_create_positioner(wl_client* client, wl_resource* r, uint32_t id) {
  wl_resource* p = wl_resource_create(client, &xdg_positioner_interface, wl_resource_get_version(r), id);
  if (p == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  static const struct xdg_positioner_interface kPositionerImpl = {
      destroy_res,
      [](wl_client*, wl_resource*, int32_t, int32_t) {},
      [](wl_client*, wl_resource*, int32_t, int32_t, int32_t, int32_t) {},
      [](wl_client*, wl_resource*, uint32_t) {},
      [](wl_client*, wl_resource*, uint32_t) {},
      [](wl_client*, wl_resource*, uint32_t) {},
      [](wl_client*, wl_resource*, int32_t, int32_t) {},
      [](wl_client*, wl_resource*) {},
      [](wl_client*, wl_resource*, int32_t, int32_t) {},
      [](wl_client*, wl_resource*, uint32_t) {}};
  wl_resource_set_implementation(p, &kPositionerImpl, nullptr, nullptr);
}

void wm_get_xdg_surface(wl_client* client, wl_resource* r, uint32_t id, wl_resource* surface) {
  Surface* s = surface_from_resource(surface);
  auto* server = static_cast<Server::Impl*>(wl_resource_get_user_data(r));
  if (s->xdg_surface != nullptr) {
    server->post_error(r, XDG_WM_BASE_ERROR_ROLE, fmt::format("wl_surface@{} already has an xdg_surface",
                                                              wl_resource_get_id(surface)));
    return;
  }
  if (s->has_buffer || s->pending_buffer) {
    server->post_error(r, XDG_WM_BASE_ERROR_INVALID_SURFACE_STATE,
                       fmt::format("wl_surface@{} already has a buffer", wl_resource_get_id(surface)));
    return;
  }
  wl_resource* xs = wl_resource_create(client, &xdg_surface_interface, wl_resource_get_version(r), id);
  if (xs == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(xs, &kXdgSurfaceImpl, s, &xdg_surface_destroyed);
  s->xdg_surface = xs;
}

void wm_pong(wl_client*, wl_resource*, uint32_t) {}

const struct xdg_wm_base_interface kWmBaseImpl = {destroy_res, wm_create_positioner, wm_get_xdg_surface, wm_pong};

void bind_wm_base(wl_client* client, void* data, uint32_t version, uint32_t id) {
  wl_resource* r = wl_resource_create(client, &xdg_wm_base_interface, static_cast<int>(version), id);
  if (r == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(r, &kWmBaseImpl, data, nullptr);
}

}  // namespace

bool xdg_check_commit(Surface& s, bool attaching) {
  // A surface without a role is never shown: whatever it attaches is just
  // given back (apply_commit treats it as an occluded surface).
  if (s.xdg_surface == nullptr) return true;
  if (attaching && !s.acked) {
    s.server->post_error(s.xdg_surface, XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER,
                         "buffer attached before the first configure was acknowledged");
    return false;
  }
  return true;
}

Result<void> Server::Impl::init_xdg_shell() {
  if (wl_global_create(display, &xdg_wm_base_interface, 2, this, &bind_wm_base) == nullptr)
    return Error{ENOMEM, "cannot create xdg_wm_base global"};
  return {};
}

}  // namespace zc::server
