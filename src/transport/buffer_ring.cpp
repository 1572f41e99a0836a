#include "transport/buffer_ring.h"

#include <wayland-client.h>

#include <climits>

#include "stats/trace.h"

namespace zc::transport {
namespace {

void buffer_release(void* data, wl_buffer*) {
  ZC_TRACE("wl_buffer.release received for the buffer of an earlier frame (the one the display just stopped reading, not this frame's): it may be drawn into again", 0);
  static_cast<Slot*>(data)->busy = false;
}
const wl_buffer_listener kBufferListener = {buffer_release};

}  // namespace

BufferRingTransport::~BufferRingTransport() {
  for (auto& s : slots_)
    if (s->wl != nullptr) wl_buffer_destroy(s->wl);
}

// A new ring for a new format (per-surface feedback said the display would
// take another buffer as it is). Every old buffer goes, the one on screen
// too: wl_buffer.destroy is allowed while the compositor still shows the
// buffer; its fds in the compositor keep the dma-buf alive until the flip
// that replaces it, and no release will come for a destroyed wl_buffer (so
// none is waited for). Freeing the client's half (the gbm_bo, the mapping,
// the fds) frees nothing the display reads.
Result<void> BufferRingTransport::reallocate_ring(uint32_t format, const ModifierChoice& choose) {
  for (auto& s : slots_)
    if (s->wl != nullptr) wl_buffer_destroy(s->wl);
  slots_.clear();
  cfg_.format = format;
  return allocate_ring(surface_, choose);
}

Result<void> BufferRingTransport::allocate_ring(wl_surface* surface, const ModifierChoice& choose) {
  surface_ = surface;
  auto mods = ring_modifiers(choose);
  if (!mods) return mods.error();
  // The whole ring now, never per frame: a 4K buffer costs milliseconds of
  // page faults the first time it is touched.
  for (uint32_t i = 0; i < cfg_.buffers; ++i) {
    auto b = allocator_->allocate(cfg_.width, cfg_.height, cfg_.format, *mods);
    if (!b) return b.error();
    auto slot = std::make_unique<Slot>();
    slot->buffer = std::move(b.value());
    slot->wl = make_wl_buffer(*slot->buffer);
    wl_buffer_add_listener(slot->wl, &kBufferListener, slot.get());
    slots_.push_back(std::move(slot));
  }
  // A roundtrip proves the compositor accepted every buffer.
  if (wl_display_roundtrip(conn_.display) < 0)
    return Error{wl_display_get_error(conn_.display), "compositor rejected a buffer"};
  return {};
}

// Reuse a buffer only after the compositor released it: it may still be on screen.
Slot* BufferRingTransport::acquire() {
  for (auto& s : slots_)
    if (!s->busy) return s.get();
  return nullptr;
}

// Only a few bytes of protocol cross the socket: the buffer is named by id.
Result<void> BufferRingTransport::submit(Slot& slot, uint64_t) {
  wl_surface_attach(surface_, slot.wl, 0, 0);
  ZC_TRACE(attach_story(), 0);
  wl_surface_damage_buffer(surface_, 0, 0, INT32_MAX, INT32_MAX);
  slot.busy = true;  // until wl_buffer.release
  return {};
}

}  // namespace zc::transport
