// The zero-copy transport (linux-dmabuf): the client's buffers are DMA-BUFs,
// and their file descriptors cross the socket once, when each wl_buffer is
// made. After that a frame is an attach by object id, and the compositor can
// put the very buffer the client drew on the display's plane.
//
// Before allocating, the client asks the compositor what it can use:
// version 4 answers with dmabuf feedback (which device, and tranches of
// format/modifier pairs in falling preference, the first being what the
// display scans out as it is); version 3 with a flat list of pairs.
#include <drm_fourcc.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <wayland-client.h>

#include <algorithm>
#include <cstring>

#include "common/format.h"
#include "common/log.h"
#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "transport/buffer_ring.h"
#include "transport/internal.h"

namespace zc::transport {
namespace {

// What the compositor said, while it is being said.
struct Feedback {
  std::vector<Tranche> tranches;
  std::optional<dev_t> main_device;
  std::vector<std::pair<uint32_t, uint64_t>> table;  // v4: the shared format table
  Tranche tranche;                                    // v4: the tranche being received
  bool done = false;
  uint64_t batches = 0;  // `done` events: each ends a complete feedback
  // The first event after a `done` starts a new feedback, which replaces
  // the tranches (the table stays unless a new one is sent).
  void begin() {
    if (!done) return;
    done = false;
    tranches.clear();
    tranche = {};
  }
};

// ------------------------------------------------------------ version 3
void dmabuf_format(void*, zwp_linux_dmabuf_v1*, uint32_t) {}
void dmabuf_modifier(void* data, zwp_linux_dmabuf_v1*, uint32_t format, uint32_t hi, uint32_t lo) {
  auto* fb = static_cast<Feedback*>(data);
  if (fb->tranches.empty()) fb->tranches.emplace_back();
  fb->tranches.front().pairs.emplace_back(format, (uint64_t{hi} << 32) | lo);
}
const zwp_linux_dmabuf_v1_listener kDmabufListener = {dmabuf_format, dmabuf_modifier};

// ------------------------------------------------------- version 4 feedback
void fb_done(void* data, zwp_linux_dmabuf_feedback_v1*) {
  auto* fb = static_cast<Feedback*>(data);
  fb->done = true;
  fb->batches++;
}
void fb_format_table(void* data, zwp_linux_dmabuf_feedback_v1*, int32_t raw_fd, uint32_t size) {
  UniqueFd fd{raw_fd};
  auto* fb = static_cast<Feedback*>(data);
  fb->begin();
  // The table is a sealed memfd shared by every client: map it, read it, unmap.
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
  fb->table.clear();
  for (size_t i = 0; i < size / sizeof(Entry); ++i) fb->table.emplace_back(e[i].format, e[i].modifier);
  ::munmap(p, size);
}
// The device the compositor imports buffers on: allocate there, so the
// buffer needs no migration and the display can scan it out.
void fb_main_device(void* data, zwp_linux_dmabuf_feedback_v1*, wl_array* dev) {
  auto* fb = static_cast<Feedback*>(data);
  fb->begin();
  if (dev->size == sizeof(dev_t)) {
    dev_t d;
    std::memcpy(&d, dev->data, sizeof d);
    fb->main_device = d;
  }
}
void fb_tranche_done(void* data, zwp_linux_dmabuf_feedback_v1*) {
  auto* fb = static_cast<Feedback*>(data);
  fb->begin();
  fb->tranches.push_back(std::move(fb->tranche));
  fb->tranche = {};
}
void fb_tranche_target(void*, zwp_linux_dmabuf_feedback_v1*, wl_array*) {}
void fb_tranche_formats(void* data, zwp_linux_dmabuf_feedback_v1*, wl_array* indices) {
  auto* fb = static_cast<Feedback*>(data);
  fb->begin();
  const auto* idx = static_cast<const uint16_t*>(indices->data);
  for (size_t i = 0; i < indices->size / sizeof(uint16_t); ++i)
    if (idx[i] < fb->table.size()) fb->tranche.pairs.push_back(fb->table[idx[i]]);
}
void fb_tranche_flags(void* data, zwp_linux_dmabuf_feedback_v1*, uint32_t flags) {
  static_cast<Feedback*>(data)->begin();
  static_cast<Feedback*>(data)->tranche.scanout = (flags & ZWP_LINUX_DMABUF_FEEDBACK_V1_TRANCHE_FLAGS_SCANOUT) != 0;
}
const zwp_linux_dmabuf_feedback_v1_listener kFeedbackListener = {
    fb_done, fb_format_table, fb_main_device, fb_tranche_done, fb_tranche_target, fb_tranche_formats,
    fb_tranche_flags};

class DmabufTransport final : public BufferRingTransport {
 public:
  DmabufTransport(const Connection& conn, const RingConfig& config, std::unique_ptr<buffer::Allocator> allocator,
                  zwp_linux_dmabuf_v1* dmabuf, uint32_t version, std::unique_ptr<Feedback> feedback)
      : BufferRingTransport(conn, config, std::move(allocator)),
        dmabuf_(dmabuf),
        version_(version),
        feedback_(std::move(feedback)) {}
  ~DmabufTransport() override {
    if (surface_feedback_ != nullptr) zwp_linux_dmabuf_feedback_v1_destroy(surface_feedback_);
    zwp_linux_dmabuf_v1_destroy(dmabuf_);
  }

  Kind kind() const override { return Kind::dmabuf; }
  std::optional<bool> scanout_tranche() const override {
    if (version_ < 4) return std::nullopt;
    return scanout_;
  }
  bool feedback_pending() const override { return surface_fb_.batches > taken_; }
  std::vector<Tranche> take_feedback() override {
    taken_ = surface_fb_.batches;
    return surface_fb_.tranches;
  }
  uint64_t feedback_received() const override { return surface_fb_.batches; }

 protected:
  Result<std::vector<uint64_t>> ring_modifiers(const ModifierChoice& choose) override {
    // Version 4, the first time: ask for this surface's own feedback and
    // allocate by it. The default feedback (asked for before the surface
    // existed) named the device; the surface's can change later, when the
    // compositor learns its frames are copied, and the client then
    // reallocates (client.cpp, follow_feedback).
    if (version_ >= 4 && surface_feedback_ == nullptr && surface() != nullptr) {
      surface_feedback_ = zwp_linux_dmabuf_v1_get_surface_feedback(dmabuf_, surface());
      zwp_linux_dmabuf_feedback_v1_add_listener(surface_feedback_, &kFeedbackListener, &surface_fb_);
      while (surface_fb_.batches == 0)
        if (auto r = conn_.dispatch("surface dmabuf feedback"); !r) return r.error();
      taken_ = surface_fb_.batches;
    }
    const auto& tranches = surface_feedback_ != nullptr ? surface_fb_.tranches : feedback_->tranches;
    auto pick = pick_modifiers(tranches, cfg_.format, choose);
    if (!pick) return pick.error();
    scanout_ = pick->scanout;
    return std::move(pick->modifiers);
  }

  wl_buffer* make_wl_buffer(const buffer::Buffer& b) override {
    const buffer::Dmabuf& d = b.desc();
    // Describe the buffer: one add() per plane with its fd; the fd is
    // duplicated into the compositor by the kernel (SCM_RIGHTS). Every
    // plane, not only the format's: a compressed layout (Intel CCS, AMD
    // DCC) keeps its compression metadata in planes of its own, often in
    // the same dma-buf at another offset, and a compositor given only the
    // pixels' plane could not show them. The modifier (split in 32-bit
    // halves, as Wayland has no 64-bit integers) is the same for each.
    zwp_linux_buffer_params_v1* params = zwp_linux_dmabuf_v1_create_params(dmabuf_);
    for (uint32_t p = 0; p < d.num_planes; ++p)
      zwp_linux_buffer_params_v1_add(params, d.planes[p].fd.get(), p, d.planes[p].offset, d.planes[p].stride,
                                     static_cast<uint32_t>(d.modifier >> 32),
                                     static_cast<uint32_t>(d.modifier & 0xffffffffu));
    wl_buffer* wl = zwp_linux_buffer_params_v1_create_immed(params, static_cast<int32_t>(d.width),
                                                            static_cast<int32_t>(d.height), d.format, 0);
    zwp_linux_buffer_params_v1_destroy(params);
    return wl;
  }

  const char* attach_story() const override {
    return "wl_surface.attach of the dma-buf wl_buffer: a 4-byte object id; the fd crossed once, when the buffer was created";
  }

 private:
  zwp_linux_dmabuf_v1* dmabuf_;
  uint32_t version_;
  // Kept for the object's life: version 3 delivers its modifier events to it.
  std::unique_ptr<Feedback> feedback_;
  bool scanout_ = false;
  // The surface's own feedback (v4), kept for the ring's life: the
  // compositor sends it again when it has something new to say.
  zwp_linux_dmabuf_feedback_v1* surface_feedback_ = nullptr;
  Feedback surface_fb_;
  uint64_t taken_ = 0;  // surface_fb_.batches when last taken
};

}  // namespace

uint32_t dmabuf_version(const Globals& globals) {
  auto it = globals.find(zwp_linux_dmabuf_v1_interface.name);
  if (it == globals.end() || it->second.version < 3) return 0;
  return std::min(it->second.version, 4u);
}

Result<ModifierPick> pick_modifiers(const std::vector<Tranche>& tranches, uint32_t format,
                                    const ModifierChoice& choose) {
  std::optional<Error> refused;  // the most preferred tranche's reason
  for (const Tranche& t : tranches) {
    std::vector<uint64_t> accepted;
    for (const auto& [f, m] : t.pairs)
      if (f == format) accepted.push_back(m);
    if (accepted.empty()) continue;
    auto mods = choose(accepted);
    if (mods) return ModifierPick{std::move(mods.value()), t.scanout};
    if (!refused) refused = mods.error();
  }
  if (refused) return *refused;
  return Error{ENOTSUP, fmt::format("compositor does not accept {} dma-bufs", format_name(format))};
}

std::optional<ScanoutSwitch> scanout_switch(const std::vector<Tranche>& tranches, uint32_t format, uint64_t modifier,
                                            bool may_switch_format, const ModifierChoice& choose) {
  bool any_scanout = false;
  for (const Tranche& t : tranches) {
    if (!t.scanout) continue;
    any_scanout = true;
    if (std::find(t.pairs.begin(), t.pairs.end(), std::make_pair(format, modifier)) != t.pairs.end())
      return std::nullopt;  // the display already takes the ring as it is
  }
  if (!any_scanout) return std::nullopt;
  auto modifiers_of = [](const Tranche& t, uint32_t f) {
    std::vector<uint64_t> mods;
    for (const auto& [pf, pm] : t.pairs)
      if (pf == f) mods.push_back(pm);
    return mods;
  };
  for (const Tranche& t : tranches) {
    if (!t.scanout) continue;
    // The ring's own format with a layout the renderer can draw.
    if (auto same = modifiers_of(t, format); !same.empty())
      if (auto mods = choose(same)) return ScanoutSwitch{format, std::move(mods.value())};
    if (!may_switch_format) continue;
    // Another format, in the tranche's order.
    for (const auto& [f, m] : t.pairs) {
      if (f == format || format_info(f) == nullptr) continue;
      if (auto mods = choose(modifiers_of(t, f))) return ScanoutSwitch{f, std::move(mods.value())};
    }
  }
  return std::nullopt;
}

Result<std::unique_ptr<Transport>> create_dmabuf_transport(const Connection& conn, const RingConfig& config) {
  const uint32_t version = dmabuf_version(*conn.globals);
  if (version == 0) return Error{ENOTSUP, "compositor does not offer zwp_linux_dmabuf_v1 (version 3 or later)"};
  auto* dmabuf = static_cast<zwp_linux_dmabuf_v1*>(wl_registry_bind(
      conn.registry, conn.globals->at(zwp_linux_dmabuf_v1_interface.name).name, &zwp_linux_dmabuf_v1_interface, version));
  // Owned from here: the transport (or this guard, on an early return) destroys it.
  std::unique_ptr<zwp_linux_dmabuf_v1, void (*)(zwp_linux_dmabuf_v1*)> guard(dmabuf, zwp_linux_dmabuf_v1_destroy);

  auto fb = std::make_unique<Feedback>();
  if (version >= 4) {
    auto* feedback = zwp_linux_dmabuf_v1_get_default_feedback(dmabuf);
    zwp_linux_dmabuf_feedback_v1_add_listener(feedback, &kFeedbackListener, fb.get());
    Result<void> r;
    while (!fb->done && r) r = conn.dispatch("dmabuf feedback");
    zwp_linux_dmabuf_feedback_v1_destroy(feedback);
    if (!r) return r.error();
  } else {
    zwp_linux_dmabuf_v1_add_listener(dmabuf, &kDmabufListener, fb.get());
    if (wl_display_roundtrip(conn.display) < 0) return Error::from_errno("dmabuf roundtrip");
  }

  // Allocate on the device the compositor named, unless the user chose one.
  buffer::AllocatorRequest req = config.allocator;
  if (!req.device && fb->main_device) req.device = fb->main_device;
  auto alloc = buffer::create_allocator(req);
  if (!alloc) return alloc.error();
  return std::unique_ptr<Transport>(std::make_unique<DmabufTransport>(
      conn, config, std::move(alloc.value()), guard.release(), version, std::move(fb)));
}

}  // namespace zc::transport
