// wp_presentation and wl_output: telling clients what the display did.
//
// Frame callbacks only say "a good time to draw"; presentation feedback says
// exactly when a frame reached the screen (CLOCK_MONOTONIC), at which refresh
// (the MSC sequence), and how: ZERO_COPY means the display read the client's
// own buffer, with no copy by the compositor.
#include <fmt/core.h>
#include <time.h>

#include <algorithm>

#include "presentation-time-server-protocol.h"
#include "server/internal.h"

namespace zc::server {
namespace {

void destroy_res(wl_client*, wl_resource* r) { wl_resource_destroy(r); }

void presentation_feedback(wl_client* client, wl_resource* r, wl_resource* surface, uint32_t id) {
  Surface* s = surface_from_resource(surface);
  wl_resource* fb = wl_resource_create(client, &wp_presentation_feedback_interface, 1, id);
  if (fb == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(fb, nullptr, nullptr, &ResourceList::unlink_on_destroy);
  (void)r;
  s->pending_feedbacks.push_back(fb);
}

const struct wp_presentation_interface kPresentationImpl = {destroy_res, presentation_feedback};

void bind_presentation(wl_client* client, void* data, uint32_t version, uint32_t id) {
  wl_resource* r = wl_resource_create(client, &wp_presentation_interface, static_cast<int>(version), id);
  if (r == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(r, &kPresentationImpl, data, nullptr);
  wp_presentation_send_clock_id(r, CLOCK_MONOTONIC);
}

// ------------------------------------------------------------------ wl_output
const struct wl_output_interface kOutputImpl = {destroy_res};

void output_resource_destroyed(wl_resource* r) {
  auto* s = static_cast<Server::Impl*>(wl_resource_get_user_data(r));
  std::erase(s->output_resources, r);
}

void bind_output(wl_client* client, void* data, uint32_t version, uint32_t id) {
  auto* s = static_cast<Server::Impl*>(data);
  wl_resource* r = wl_resource_create(client, &wl_output_interface, static_cast<int>(version), id);
  if (r == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(r, &kOutputImpl, s, &output_resource_destroyed);
  s->output_resources.push_back(r);
  const output::Mode m = s->out->mode();
  const std::string model = s->out->name();
  wl_output_send_geometry(r, 0, 0, 0, 0, WL_OUTPUT_SUBPIXEL_UNKNOWN, "zcpipe", model.c_str(),
                          WL_OUTPUT_TRANSFORM_NORMAL);
  wl_output_send_mode(r, WL_OUTPUT_MODE_CURRENT | WL_OUTPUT_MODE_PREFERRED, static_cast<int32_t>(m.width),
                      static_cast<int32_t>(m.height), static_cast<int32_t>(m.refresh_mhz));
  if (version >= 2) {
    wl_output_send_scale(r, 1);
    wl_output_send_done(r);
  }
}

}  // namespace

void send_feedback_presented(Server::Impl& s, wl_resource* fb, const output::Presented& p) {
  wl_client* client = wl_resource_get_client(fb);
  for (wl_resource* o : s.output_resources)
    if (wl_resource_get_client(o) == client) wp_presentation_feedback_send_sync_output(fb, o);
  uint32_t flags = 0;
  if (p.vsync) flags |= WP_PRESENTATION_FEEDBACK_KIND_VSYNC;
  if (p.hw_clock) flags |= WP_PRESENTATION_FEEDBACK_KIND_HW_CLOCK;
  if (p.hw_completion) flags |= WP_PRESENTATION_FEEDBACK_KIND_HW_COMPLETION;
  if (p.zero_copy) flags |= WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY;
  const uint64_t sec = p.time_ns / 1'000'000'000ull;
  wp_presentation_feedback_send_presented(fb, static_cast<uint32_t>(sec >> 32), static_cast<uint32_t>(sec),
                                          static_cast<uint32_t>(p.time_ns % 1'000'000'000ull), p.refresh_ns,
                                          static_cast<uint32_t>(p.seq >> 32), static_cast<uint32_t>(p.seq),
                                          flags);
  wl_resource_destroy(fb);
}

void send_feedback_discarded(wl_resource* fb) {
  wp_presentation_feedback_send_discarded(fb);
  wl_resource_destroy(fb);
}

Result<void> Server::Impl::init_presentation_and_output() {
  if (wl_global_create(display, &wp_presentation_interface, 1, this, &bind_presentation) == nullptr)
    return Error{ENOMEM, "cannot create wp_presentation global"};
  if (wl_global_create(display, &wl_output_interface, 3, this, &bind_output) == nullptr)
    return Error{ENOMEM, "cannot create wl_output global"};
  return {};
}

}  // namespace zc::server
