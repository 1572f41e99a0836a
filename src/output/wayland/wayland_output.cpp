// The nested output (see wayland_output.h for what crosses the hop).
//
// Two roles meet in this file: towards its own clients zcpipe is a Wayland
// server (libwayland-server, in server/), towards the parent it is a Wayland
// client (libwayland-client, here). Both sides share one event loop: the
// parent's socket is one more fd in the server's wl_event_loop, read with
// the prepare_read / read_events / dispatch_pending protocol so that no
// event is ever read by one reader and dispatched by none.
#include "output/wayland/wayland_output.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <poll.h>
#include <wayland-client.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "presentation-time-client-protocol.h"
#include "stats/trace.h"
#include "xdg-shell-client-protocol.h"

namespace zc::output {
namespace {

// Frames this output may have at the parent at once: the one shown, the
// one queued behind it, and those the parent has not released yet. The
// server never has more in flight than its own ring (InFlightRing::kSlots).
constexpr size_t kSlots = 16;
constexpr int kWaitMs = 5000;  // the longest we wait for the parent to answer
constexpr int kWithdrawWaitMs = 500;  // ... to give back a withdrawn buffer

// wl_shm's format codes are DRM fourccs, except its two oldest ones.
uint32_t drm_to_shm_format(uint32_t fourcc) {
  if (fourcc == DRM_FORMAT_ARGB8888) return WL_SHM_FORMAT_ARGB8888;
  if (fourcc == DRM_FORMAT_XRGB8888) return WL_SHM_FORMAT_XRGB8888;
  return fourcc;
}

void wayland_client_log(const char* format, va_list ap) {
  log::debug("libwayland-client (parent): {}", log::c_log_line(format, ap));
}

class WaylandOutput;

// One wl_buffer on the parent standing for one of our buffers: a client's
// dmabuf (imported by the parent from the same fds) or one of our scanout
// memfds (a wl_shm pool of its own). Made once, reused for every frame the
// buffer carries, destroyed once the buffer is gone and the parent let go.
struct Remote {
  WaylandOutput* self = nullptr;
  std::weak_ptr<buffer::Buffer> source;
  wl_buffer* wl = nullptr;  // nullptr when the parent refused it (refused)
  bool shm = false;
  // The parent cannot import this dmabuf (no linux-dmabuf, or not this
  // format/layout): its frames are copied into one of our own shm buffers.
  bool refused = false;
};

// One frame at the parent, from attach until the parent released its
// buffer AND said what became of the frame (presented or discarded). Both
// are needed before the frame is given back to the server, in either order:
// a parent that copies (wl_shm) releases before it presents.
struct Slot {
  WaylandOutput* self = nullptr;
  bool used = false;
  uint64_t tag = 0;
  std::shared_ptr<buffer::Buffer> buffer;  // the parent may read it until it releases it
  Remote* remote = nullptr;
  bool client_owned = false;
  bool copied = false;  // a fallback copy: the parent could not take the client's buffer
  buffer::ScanoutLease lease;  // ... in this scanout buffer, written again only once the parent let go
  enum class Fate { waiting, presented, discarded } fate = Fate::waiting;
  bool parent_released = false;
  struct wp_presentation_feedback* feedback = nullptr;
};

class WaylandOutput final : public Output {
 public:
  WaylandOutput(wl_event_loop* loop, WaylandConfig cfg) : loop_(loop), cfg_(std::move(cfg)) {
    width_ = cfg_.width;
    height_ = cfg_.height;
    for (auto& s : slots_) s.self = this;
  }

  ~WaylandOutput() override {
    if (idle_ != nullptr) wl_event_source_remove(idle_);
    if (idle_dispatch_ != nullptr) wl_event_source_remove(idle_dispatch_);
    if (fd_source_ != nullptr) wl_event_source_remove(fd_source_);
    if (parent_ == nullptr) return;
    for (auto& s : slots_)
      if (s.feedback != nullptr) wp_presentation_feedback_destroy(s.feedback);
    for (auto& [k, r] : remotes_)
      if (r->wl != nullptr) wl_buffer_destroy(r->wl);
    if (frame_cb_ != nullptr) wl_callback_destroy(frame_cb_);
    destroy_role();
    if (surface_ != nullptr) wl_surface_destroy(surface_);
    if (presentation_ != nullptr) wp_presentation_destroy(presentation_);
    if (dmabuf_ != nullptr) zwp_linux_dmabuf_v1_destroy(dmabuf_);
    if (shm_ != nullptr) wl_shm_destroy(shm_);
    if (wm_base_ != nullptr) xdg_wm_base_destroy(wm_base_);
    if (compositor_ != nullptr) wl_compositor_destroy(compositor_);
    if (registry_ != nullptr) wl_registry_destroy(registry_);
    wl_display_flush(parent_);
    if (private_q_ != nullptr) wl_event_queue_destroy(private_q_);
    wl_display_disconnect(parent_);
  }

  Result<void> init() {
    wl_log_set_handler_client(&wayland_client_log);
    parent_ = wl_display_connect(cfg_.parent.empty() ? nullptr : cfg_.parent.c_str());
    if (parent_ == nullptr)
      return Error::from_errno(fmt::format("cannot connect to the parent compositor '{}' (is it running, in this "
                                           "XDG_RUNTIME_DIR? --parent NAME picks another)",
                                           cfg_.parent));
    // Requests whose answers we wait for (the window's configure, a dmabuf
    // import's created/failed) live on a queue of their own: waiting on it
    // dispatches only those answers, never a release or a presentation
    // event that would call back into the server in the middle of present().
    private_q_ = wl_display_create_queue(parent_);
    registry_ = wl_display_get_registry(parent_);
    wl_registry_add_listener(registry_, &kRegistryListener, this);
    if (wl_display_roundtrip(parent_) < 0) return Error::from_errno("wl_display_roundtrip with the parent compositor");
    std::string missing;
    if (compositor_ == nullptr) missing += " wl_compositor";
    if (wm_base_ == nullptr) missing += " xdg_wm_base";
    if (shm_ == nullptr) missing += " wl_shm";
    if (!missing.empty())
      return Error{0, fmt::format("the parent compositor '{}' lacks{}: cannot open a window on it", cfg_.parent, missing)};
    // A second round trip collects the events the binds triggered: the
    // dmabuf (format, modifier) pairs, wl_shm formats, the presentation clock.
    if (wl_display_roundtrip(parent_) < 0) return Error::from_errno("wl_display_roundtrip with the parent compositor");
    wl_proxy_set_queue(reinterpret_cast<wl_proxy*>(wm_base_), private_q_);
    xdg_wm_base_add_listener(wm_base_, &kWmBaseListener, this);
    surface_ = wl_compositor_create_surface(compositor_);
    if (auto r = map_window(); !r) return r;
    fd_source_ = wl_event_loop_add_fd(loop_, wl_display_get_fd(parent_), WL_EVENT_READABLE, &on_fd, this);
    if (fd_source_ == nullptr) return Error::from_errno("wl_event_loop_add_fd (parent compositor)");
    log::debug("wayland output: parent '{}' {}x{}, {} dmabuf formats, wp_presentation {}", cfg_.parent, width_, height_,
               dmabuf_formats_.size(), presentation_ != nullptr ? "yes" : "no");
    return {};
  }

  std::string name() const override { return "wayland"; }
  std::string description() const override {
    return fmt::format("wayland: a fullscreen window on the parent compositor '{}' ({}x{}, linux-dmabuf {}, wp_presentation {})",
                       cfg_.parent, width_, height_, dmabuf_ != nullptr ? fmt::format("v{}", dmabuf_version_) : "absent",
                       presentation_ != nullptr ? "yes" : "no");
  }
  Mode mode() const override { return Mode{width_, height_, 0}; }
  std::optional<dev_t> device() const override { return cfg_.device; }
  // What this output "scans out" without a copy is what the parent imports
  // as a dmabuf: its (format, modifier) pairs, passed on to our clients.
  std::vector<std::pair<uint32_t, uint64_t>> scanout_formats() const override { return dmabuf_formats_; }
  // Beyond those, a linear buffer of a format the parent takes as wl_shm can
  // still be shown, at the price of one copy here (copy_to_fallback).
  std::vector<std::pair<uint32_t, uint64_t>> importable_formats() const override {
    auto f = dmabuf_formats_;
    for (uint32_t fourcc : {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888, DRM_FORMAT_ABGR8888, DRM_FORMAT_RGB888}) {
      if (std::find(shm_formats_.begin(), shm_formats_.end(), drm_to_shm_format(fourcc)) == shm_formats_.end()) continue;
      for (uint64_t mod : {DRM_FORMAT_MOD_LINEAR, DRM_FORMAT_MOD_INVALID})
        if (std::find(f.begin(), f.end(), std::make_pair(fourcc, mod)) == f.end()) f.emplace_back(fourcc, mod);
    }
    return f;
  }

  void present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) override {
    if (lost_) {
      if (cb_.discarded) cb_.discarded(tag);
      return;
    }
    sweep();
    if (!mapped_role_) {
      if (auto r = map_window(); !r) return fail("cannot map the window again: " + r.error().message());
    }
    Remote* remote = remote_for(buffer, client_owned);
    bool copied = false;
    buffer::ScanoutLease lease;
    if (remote != nullptr && remote->refused) {
      // The parent cannot read the client's buffer: this hop pays a copy
      // into memory of its own that the parent maps (wl_shm), and says so.
      auto copy = copy_to_fallback(*buffer, tag);
      remote = nullptr;
      if (copy) {
        lease = std::move(copy.value());
        buffer = lease.shared_buffer();
        remote = remote_for(buffer, false);
        client_owned = false;
        copied = true;
      } else if (!warned_copy_) {
        warned_copy_ = true;
        log::warn("nested output: frame not forwarded: {}", copy.error().message());
      }
    }
    Slot* slot = free_slot();
    if (remote == nullptr || slot == nullptr) {
      // Logged once in remote_for (or a bug: more frames than the server has).
      counters_.not_forwarded++;
      if (cb_.discarded) cb_.discarded(tag);
      return;
    }
    slot->used = true;
    slot->tag = tag;
    slot->buffer = std::move(buffer);
    slot->remote = remote;
    slot->client_owned = client_owned;
    slot->copied = copied;
    slot->lease = std::move(lease);
    slot->fate = Slot::Fate::waiting;
    slot->parent_released = false;
    ZC_TRACE(client_owned ? "nested output: the client's dmabuf goes on to the parent as the same buffer (its fds were sent once): 0 bytes copied at this hop"
                          : "nested output: our scanout memfd (shared with the parent once, as a wl_shm pool) is attached on the parent",
             0);
    wl_surface_attach(surface_, remote->wl, 0, 0);
    wl_surface_damage_buffer(surface_, 0, 0, INT32_MAX, INT32_MAX);
    if (presentation_ != nullptr) {
      slot->feedback = wp_presentation_feedback(presentation_, surface_);
      wp_presentation_feedback_add_listener(slot->feedback, &kFeedbackListener, slot);
    }
    request_frame_callback();
    wl_surface_commit(surface_);
    attached_ = true;
    current_tag_ = tag;
    client_owned ? counters_.forwarded_dmabuf++ : counters_.forwarded_shm++;
    if (copied) counters_.fallback_copies++;
    flush();
  }

  void schedule_vblank() override {
    if (lost_) return;
    if (!attached_) {
      // No buffer on the parent: our window is not shown, so the parent
      // sends no frame callbacks. Nothing paces us; answer at once.
      if (idle_ == nullptr) idle_ = wl_event_loop_add_idle(loop_, &on_idle_vblank, this);
      return;
    }
    if (frame_cb_ != nullptr) return;
    request_frame_callback();
    wl_surface_commit(surface_);
    flush();
  }

  void withdraw(uint64_t tag) override {
    // The surface behind `tag` is gone. If it is what our window shows, the
    // window goes blank (a null attach unmaps it on the parent, as a KMS
    // plane is disabled); the frame is given back when the parent lets go.
    if (lost_ || !attached_ || current_tag_ != tag) return;
    wl_surface_attach(surface_, nullptr, 0, 0);
    wl_surface_commit(surface_);
    attached_ = false;
    // xdg-shell: a toplevel unmapped by a null attach must be configured
    // again before it shows a buffer; the next present() makes a new role.
    destroy_role();
    flush();
    // A surface goes away when its client leaves, often right before the
    // compositor itself stops: wait (briefly) for the parent to let go of
    // the buffers, so they are given back (and their fds closed) now, as a
    // display's withdraw does, rather than never. A parent that releases
    // only at its next flip (KMS) may take longer; the rest then comes later.
    in_withdraw_ = true;
    auto waited = wait_queue(nullptr, [this] { return std::none_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.used; }); },
                             "the release of a withdrawn buffer", kWithdrawWaitMs);
    in_withdraw_ = false;
    if (!waited && waited.error().code != ETIMEDOUT) fail(waited.error().message());
    sweep();
    if (vblank_deferred_) {
      vblank_deferred_ = false;
      schedule_vblank();
    }
  }

  std::vector<std::pair<std::string, uint64_t>> counters() const override {
    return {{"forwarded_dmabuf", counters_.forwarded_dmabuf},
            {"forwarded_shm", counters_.forwarded_shm},
            {"not_forwarded", counters_.not_forwarded},
            {"parent_buffers_dmabuf", counters_.parent_buffers_dmabuf},
            {"parent_buffers_shm", counters_.parent_buffers_shm},
            {"parent_buffers_destroyed", counters_.parent_buffers_destroyed},
            {"parent_import_failures", counters_.import_failures},
            {"parent_releases", counters_.parent_releases},
            {"parent_presented", counters_.parent_presented},
            {"parent_zero_copy", counters_.parent_zero_copy},
            {"parent_discarded", counters_.parent_discarded},
            {"released_after_parent", counters_.released_after_parent},
            {"presented_before_parent_release", counters_.presented_before_release},
            {"parent_max_held", counters_.max_held},
            {"fallback_copies", counters_.fallback_copies}};
  }

 private:
  // ------------------------------------------------------------ the window
  Result<void> map_window() {
    configured_ = false;
    if (ever_mapped_) {
      // Mapped before, then unmapped by withdraw(): a fresh wl_surface, as
      // some compositors (zcpipe among them) give an xdg role only to a
      // surface that never had a buffer.
      if (frame_cb_ != nullptr) wl_callback_destroy(frame_cb_);
      frame_cb_ = nullptr;
      wl_surface_destroy(surface_);
      surface_ = wl_compositor_create_surface(compositor_);
    }
    ever_mapped_ = true;
    xdg_surface_ = xdg_wm_base_get_xdg_surface(wm_base_, surface_);  // on private_q_, as wm_base_
    xdg_surface_add_listener(xdg_surface_, &kXdgSurfaceListener, this);
    toplevel_ = xdg_surface_get_toplevel(xdg_surface_);
    xdg_toplevel_add_listener(toplevel_, &kToplevelListener, this);
    xdg_toplevel_set_title(toplevel_, "zcpipe-compositor (nested)");
    xdg_toplevel_set_app_id(toplevel_, "zcpipe-compositor");
    xdg_toplevel_set_fullscreen(toplevel_, nullptr);
    // The initial commit carries no buffer: it asks for the first configure.
    wl_surface_commit(surface_);
    if (auto r = wait_private([this] { return configured_; }, "the window's first configure"); !r) return r;
    mapped_role_ = true;
    return {};
  }

  void destroy_role() {
    if (toplevel_ != nullptr) xdg_toplevel_destroy(toplevel_);
    if (xdg_surface_ != nullptr) xdg_surface_destroy(xdg_surface_);
    toplevel_ = nullptr;
    xdg_surface_ = nullptr;
    mapped_role_ = false;
  }

  // ------------------------------------------------------- parent buffers
  // The wl_buffer standing for `b` on the parent: found in the cache, or
  // made now (once per buffer for its whole life).
  Remote* remote_for(const std::shared_ptr<buffer::Buffer>& b, bool client_owned) {
    if (auto it = remotes_.find(b.get()); it != remotes_.end()) {
      if (!it->second->source.expired()) return it->second.get();
      destroy_remote(it);  // a dead buffer whose address was reused
    }
    auto r = std::make_unique<Remote>();
    r->self = this;
    r->source = b;
    auto made = client_owned ? import_dmabuf(*b) : share_shm(*b);
    if (!made) {
      counters_.import_failures++;
      if (!client_owned) {
        if (!warned_import_) log::warn("nested output: frame not forwarded to the parent: {}", made.error().message());
        warned_import_ = true;
        return nullptr;
      }
      // Remembered, so the import is tried once per buffer, not per frame.
      if (!warned_import_) log::info("nested output: {}; such frames are copied into our own wl_shm buffers (one CPU copy at this hop)", made.error().message());
      warned_import_ = true;
      r->refused = true;
    } else {
      r->wl = *made;
      r->shm = !client_owned;
      wl_buffer_add_listener(r->wl, &kBufferListener, r.get());
    }
    Remote* raw = r.get();
    remotes_.emplace(b.get(), std::move(r));
    return raw;
  }

  // zwp_linux_buffer_params_v1 from the client's own fds: the parent imports
  // the very memory the client rendered into. The asynchronous create (not
  // create_immed) lets a parent refuse a buffer with a `failed` event rather
  // than a fatal protocol error on our whole connection.
  Result<wl_buffer*> import_dmabuf(const buffer::Buffer& b) {
    if (dmabuf_ == nullptr) return Error{0, fmt::format("the parent '{}' has no linux-dmabuf v3+", cfg_.parent)};
    const buffer::Dmabuf& d = b.desc();
    auto* wrapped = static_cast<zwp_linux_dmabuf_v1*>(wl_proxy_create_wrapper(dmabuf_));
    wl_proxy_set_queue(reinterpret_cast<wl_proxy*>(wrapped), private_q_);
    zwp_linux_buffer_params_v1* params = zwp_linux_dmabuf_v1_create_params(wrapped);
    wl_proxy_wrapper_destroy(wrapped);
    Import imp;
    zwp_linux_buffer_params_v1_add_listener(params, &kParamsListener, &imp);
    for (uint32_t p = 0; p < d.num_planes; ++p)
      zwp_linux_buffer_params_v1_add(params, d.planes[p].fd.get(), p, d.planes[p].offset, d.planes[p].stride,
                                     static_cast<uint32_t>(d.modifier >> 32), static_cast<uint32_t>(d.modifier & 0xffffffffu));
    zwp_linux_buffer_params_v1_create(params, static_cast<int32_t>(d.width), static_cast<int32_t>(d.height), d.format,
                                      d.y_invert ? ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT : 0);
    auto waited = wait_private([&imp] { return imp.done; }, "the parent's answer to a dmabuf import");
    zwp_linux_buffer_params_v1_destroy(params);
    if (!waited) return waited.error();
    if (imp.buffer == nullptr)
      return Error{0, fmt::format("the parent '{}' refused the dmabuf {}x{} {} modifier 0x{:x}", cfg_.parent, d.width, d.height,
                                  format_name(d.format), d.modifier)};
    // The new wl_buffer was born on the private queue (its params' queue);
    // its release events belong to the main dispatch.
    wl_proxy_set_queue(reinterpret_cast<wl_proxy*>(imp.buffer), nullptr);
    counters_.parent_buffers_dmabuf++;
    return imp.buffer;
  }

  // One of our scanout memfds, shared with the parent once: a pool over the
  // whole memfd, and one buffer in it. The pool may go at once; the buffer
  // keeps the parent's mapping alive.
  Result<wl_buffer*> share_shm(const buffer::Buffer& b) {
    const buffer::Dmabuf& d = b.desc();
    const uint32_t shm_format = drm_to_shm_format(d.format);
    if (std::find(shm_formats_.begin(), shm_formats_.end(), shm_format) == shm_formats_.end())
      return Error{0, fmt::format("the parent '{}' takes no wl_shm {}", cfg_.parent, format_name(d.format))};
    const int64_t size = buffer::fd_size(d.planes[0].fd.get());
    if (size <= 0 || size > INT32_MAX) return Error{EINVAL, fmt::format("scanout memfd of {} bytes cannot be a wl_shm pool", size)};
    wl_shm_pool* pool = wl_shm_create_pool(shm_, d.planes[0].fd.get(), static_cast<int32_t>(size));
    wl_buffer* wl = wl_shm_pool_create_buffer(pool, static_cast<int32_t>(d.planes[0].offset), static_cast<int32_t>(d.width),
                                              static_cast<int32_t>(d.height), static_cast<int32_t>(d.planes[0].stride), shm_format);
    wl_shm_pool_destroy(pool);
    counters_.parent_buffers_shm++;
    return wl;
  }

  // The fallback copy: the client's frame into a scanout buffer leased from
  // the output's planner (buffer/scanout_planner.h: the same few memfds the
  // server copies wl_shm frames into, allocated rarely, given back when a
  // surface unmaps), shared with the parent as wl_shm like those.
  Result<buffer::ScanoutLease> copy_to_fallback(buffer::Buffer& src, uint64_t tag) {
    const buffer::Dmabuf& d = src.desc();
    const FormatInfo* info = format_info(d.format);
    if (info == nullptr || d.num_planes != 1 || (d.modifier != DRM_FORMAT_MOD_LINEAR && d.modifier != DRM_FORMAT_MOD_INVALID))
      return Error{0, fmt::format("the parent refuses the dmabuf and it cannot be copied here ({} modifier 0x{:x}, {} planes)",
                                  format_name(d.format), d.modifier, d.num_planes)};
    auto planner = scanout_planner();
    if (!planner) return planner.error();
    auto lease = (*planner)->acquire(d.width, d.height, d.format, buffer::ScanoutUser::output);
    if (!lease) return lease.error();
    auto from = src.map(false);
    auto to = lease->buffer().map(true);
    if (!from || !to) return Error{EIO, "cannot map a buffer for the fallback copy"};
    const size_t row = static_cast<size_t>(d.width) * info->bytes_per_pixel;
    const uint32_t dst_stride = lease->buffer().stride();
    src.begin_cpu_access(false);
    lease->buffer().begin_cpu_access(true);
    for (uint32_t y = 0; y < d.height; ++y) {
      // wl_shm has no Y_INVERT: a bottom-up buffer is turned upright here.
      const uint32_t sy = d.y_invert ? d.height - 1 - y : y;
      std::memcpy(to->data() + static_cast<size_t>(y) * dst_stride,
                  from->data() + d.planes[0].offset + static_cast<size_t>(sy) * d.planes[0].stride, row);
    }
    auto& drawn = lease->drawn();
    buffer::clear_stale(to->data(), dst_stride, static_cast<uint32_t>(row), d.height, drawn.row_bytes, drawn.rows);
    lease->buffer().end_cpu_access(true);
    src.end_cpu_access(false);
    if (cb_.copied) cb_.copied(tag, row * d.height, "nested output: the parent refused the dmabuf: memcpy into our wl_shm buffer");
    return std::move(lease.value());
  }

  void destroy_remote(std::unordered_map<const buffer::Buffer*, std::unique_ptr<Remote>>::iterator it) {
    if (it->second->wl != nullptr) {
      wl_buffer_destroy(it->second->wl);
      counters_.parent_buffers_destroyed++;
    }
    remotes_.erase(it);
  }

  // Parent buffers whose own buffer is gone (the client destroyed its
  // wl_buffer, or the server gave an idle scanout buffer back) and that no
  // frame at the parent still uses.
  void sweep() {
    for (auto it = remotes_.begin(); it != remotes_.end();) {
      const bool in_use = std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.used && s.remote == it->second.get(); });
      if (!in_use && it->second->source.expired()) {
        auto dead = it++;
        destroy_remote(dead);
      } else {
        ++it;
      }
    }
  }

  Slot* free_slot() {
    size_t held = 0;
    Slot* found = nullptr;
    for (auto& s : slots_) {
      if (s.used) held++;
      else if (found == nullptr) found = &s;
    }
    if (held + 1 > counters_.max_held) counters_.max_held = held + 1;
    return found;
  }

  // The frame is done at the parent: given back to the server, released
  // (shown, then replaced) or discarded (never shown).
  void maybe_finish(Slot& s) {
    if (!s.used || !s.parent_released || s.fate == Slot::Fate::waiting) return;
    const uint64_t tag = s.tag;
    const bool discarded = s.fate == Slot::Fate::discarded;
    if (s.feedback != nullptr) wp_presentation_feedback_destroy(s.feedback);
    s.used = false;
    s.buffer.reset();
    s.lease.reset();
    s.remote = nullptr;
    s.feedback = nullptr;
    counters_.released_after_parent++;
    if (discarded) {
      if (cb_.discarded) cb_.discarded(tag);
    } else if (cb_.released) {
      cb_.released(tag);
    }
  }

  void on_parent_release(Remote* r) {
    counters_.parent_releases++;
    ZC_TRACE("nested output: the parent released the forwarded wl_buffer: only now is our own buffer released downstream", 0);
    for (auto& s : slots_)
      if (s.used && s.remote == r && !s.parent_released) {
        s.parent_released = true;
        maybe_finish(s);
      }
  }

  void on_feedback(Slot& s, bool presented, Presented p) {
    if (s.feedback != nullptr) wp_presentation_feedback_destroy(s.feedback);
    s.feedback = nullptr;
    if (!s.used) return;
    if (s.copied) {
      // Shown, but from this hop's copy: say why the client's buffer was not.
      p.direct = false;
      p.reasons = dmabuf_ == nullptr ? ScanoutReason::format_not_on_plane : ScanoutReason::import_failed;
    }
    if (presented) {
      s.fate = Slot::Fate::presented;
      counters_.parent_presented++;
      if (p.zero_copy) counters_.parent_zero_copy++;
      if (!s.parent_released) counters_.presented_before_release++;
      if (cb_.presented) cb_.presented(s.tag, p);
    } else {
      s.fate = Slot::Fate::discarded;
      counters_.parent_discarded++;
    }
    maybe_finish(s);
  }

  // ------------------------------------------------------ frame callbacks
  void request_frame_callback() {
    if (frame_cb_ != nullptr) return;
    frame_cb_ = wl_surface_frame(surface_);
    wl_callback_add_listener(frame_cb_, &kFrameListener, this);
  }

  void on_frame_done() {
    wl_callback_destroy(frame_cb_);
    frame_cb_ = nullptr;
    const uint64_t now = monotonic_ns();
    if (presentation_ == nullptr) {
      // No wp_presentation on the parent: its frame callback is the best
      // sign that what we committed is on screen (no ZERO_COPY knowledge).
      Presented p;
      p.time_ns = now;
      for (auto& s : slots_)
        if (s.used && s.fate == Slot::Fate::waiting) on_feedback(s, true, p);
    }
    if (in_withdraw_) {
      // The server is taking a surface down (withdraw): its frame callbacks
      // go out after that, not in the middle of it.
      vblank_deferred_ = true;
      return;
    }
    if (cb_.vblank) cb_.vblank(now);
  }

  static void on_idle_vblank(void* data) {
    auto* self = static_cast<WaylandOutput*>(data);
    self->idle_ = nullptr;
    if (self->cb_.vblank) self->cb_.vblank(monotonic_ns());
  }

  // ------------------------------------------------------- the connection
  static int on_fd(int, uint32_t mask, void* data) {
    auto* self = static_cast<WaylandOutput*>(data);
    if ((mask & WL_EVENT_READABLE) != 0) {
      // prepare_read fails while events are queued: dispatch those first.
      while (wl_display_prepare_read(self->parent_) != 0)
        if (wl_display_dispatch_pending(self->parent_) < 0) return self->fail_from_display(), 0;
      if (wl_display_read_events(self->parent_) < 0) return self->fail_from_display(), 0;
    } else if ((mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)) != 0) {
      self->fail("the connection was closed");
      return 0;
    }
    self->dispatch_all();
    return 0;
  }

  void dispatch_all() {
    if (lost_) return;
    if (wl_display_dispatch_queue_pending(parent_, private_q_) < 0 || wl_display_dispatch_pending(parent_) < 0)
      return fail_from_display();
    flush();
  }

  // Requests are buffered by libwayland; they reach the parent only when
  // flushed. A full socket (EAGAIN) is retried when it becomes writable.
  void flush() {
    if (lost_) return;
    if (wl_display_flush(parent_) >= 0) {
      if (want_writable_) {
        want_writable_ = false;
        wl_event_source_fd_update(fd_source_, WL_EVENT_READABLE);
      }
      return;
    }
    if (errno == EAGAIN) {
      if (!want_writable_ && fd_source_ != nullptr) {
        want_writable_ = true;
        wl_event_source_fd_update(fd_source_, WL_EVENT_READABLE | WL_EVENT_WRITABLE);
      }
      return;
    }
    fail_from_display();
  }

  // Blocks until `done` holds, dispatching only the private queue (answers
  // to our own requests), at most kWaitMs.
  Result<void> wait_private(const std::function<bool()>& done, const char* what) {
    return wait_queue(private_q_, done, what, kWaitMs);
  }

  // Blocks until `done` holds, dispatching `queue` (nullptr: the default
  // queue), at most `timeout_ms`.
  Result<void> wait_queue(wl_event_queue* queue, const std::function<bool()>& done, const char* what, int timeout_ms) {
    auto dispatch = [&] { return queue != nullptr ? wl_display_dispatch_queue_pending(parent_, queue) : wl_display_dispatch_pending(parent_); };
    auto prepare = [&] { return queue != nullptr ? wl_display_prepare_read_queue(parent_, queue) : wl_display_prepare_read(parent_); };
    const uint64_t deadline = monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000u;
    while (!done()) {
      if (dispatch() < 0) return Error::from_errno("parent compositor connection");
      if (lost_) return Error{EPIPE, "the parent compositor is gone"};
      if (done()) break;
      if (prepare() != 0) continue;
      while (wl_display_flush(parent_) < 0 && errno == EAGAIN) {
        pollfd w{wl_display_get_fd(parent_), POLLOUT, 0};
        ::poll(&w, 1, 100);
      }
      const uint64_t now = monotonic_ns();
      const int left_ms = now >= deadline ? 0 : static_cast<int>((deadline - now) / 1'000'000u);
      pollfd p{wl_display_get_fd(parent_), POLLIN, 0};
      if (left_ms == 0 || ::poll(&p, 1, left_ms) <= 0) {
        wl_display_cancel_read(parent_);
        return Error{ETIMEDOUT, fmt::format("the parent '{}' did not send {} within {} ms", cfg_.parent, what, timeout_ms)};
      }
      if (wl_display_read_events(parent_) < 0) return Error::from_errno("reading from the parent compositor");
    }
    // Events for the main queue may have been read on the way: dispatch
    // them from the loop, not from inside whoever called us.
    if (fd_source_ != nullptr && idle_dispatch_ == nullptr) idle_dispatch_ = wl_event_loop_add_idle(loop_, &on_idle_dispatch, this);
    return {};
  }

  static void on_idle_dispatch(void* data) {
    auto* self = static_cast<WaylandOutput*>(data);
    self->idle_dispatch_ = nullptr;
    self->dispatch_all();
  }

  void fail_from_display() {
    const int err = wl_display_get_error(parent_);
    if (err == EPROTO) {
      // A protocol error is fatal to the connection: name what it was about.
      const wl_interface* iface = nullptr;
      uint32_t id = 0;
      const uint32_t code = wl_display_get_protocol_error(parent_, &iface, &id);
      return fail(fmt::format("it sent us a protocol error: {}@{} error {}", iface != nullptr ? iface->name : "?", id, code));
    }
    fail(std::strerror(err != 0 ? err : errno));
  }

  // The parent is gone: nothing we hold will ever be released by it. Every
  // frame is given back now (the server is about to stop), and the owner is
  // told once.
  void fail(const std::string& why) {
    if (lost_) return;
    lost_ = true;
    if (fd_source_ != nullptr) wl_event_source_remove(fd_source_);
    fd_source_ = nullptr;
    for (auto& s : slots_)
      if (s.used) {
        s.parent_released = true;
        if (s.fate == Slot::Fate::waiting) s.fate = Slot::Fate::discarded;
        if (s.feedback != nullptr) wp_presentation_feedback_destroy(s.feedback);
        s.feedback = nullptr;
        maybe_finish(s);
      }
    if (cfg_.lost) cfg_.lost(fmt::format("the parent compositor '{}' went away ({})", cfg_.parent, why));
  }

  // ------------------------------------------------------------ listeners
  struct Import {
    bool done = false;
    wl_buffer* buffer = nullptr;
  };

  static void reg_global(void* data, wl_registry* reg, uint32_t name, const char* iface, uint32_t version) {
    auto* self = static_cast<WaylandOutput*>(data);
    auto bind = [&](const wl_interface* i, uint32_t v) { return wl_registry_bind(reg, name, i, std::min(version, v)); };
    if (std::strcmp(iface, wl_compositor_interface.name) == 0) {
      self->compositor_ = static_cast<wl_compositor*>(bind(&wl_compositor_interface, 4));
    } else if (std::strcmp(iface, xdg_wm_base_interface.name) == 0) {
      self->wm_base_ = static_cast<xdg_wm_base*>(bind(&xdg_wm_base_interface, 2));
    } else if (std::strcmp(iface, wl_shm_interface.name) == 0) {
      self->shm_ = static_cast<wl_shm*>(bind(&wl_shm_interface, 1));
      wl_shm_add_listener(self->shm_, &kShmListener, self);
    } else if (std::strcmp(iface, zwp_linux_dmabuf_v1_interface.name) == 0 && version >= 3) {
      // Version 3: formats and modifiers as events (v4's feedback is not
      // needed to forward a buffer the client already allocated).
      self->dmabuf_version_ = 3;
      self->dmabuf_ = static_cast<zwp_linux_dmabuf_v1*>(bind(&zwp_linux_dmabuf_v1_interface, 3));
      zwp_linux_dmabuf_v1_add_listener(self->dmabuf_, &kDmabufListener, self);
    } else if (std::strcmp(iface, wp_presentation_interface.name) == 0) {
      self->presentation_ = static_cast<wp_presentation*>(bind(&wp_presentation_interface, 1));
      wp_presentation_add_listener(self->presentation_, &kPresentationListener, self);
    }
  }
  static void reg_global_remove(void*, wl_registry*, uint32_t) {}
  static constexpr wl_registry_listener kRegistryListener = {reg_global, reg_global_remove};

  static void shm_format(void* data, wl_shm*, uint32_t format) {
    static_cast<WaylandOutput*>(data)->shm_formats_.push_back(format);
  }
  static constexpr wl_shm_listener kShmListener = {shm_format};

  static void dmabuf_format(void*, zwp_linux_dmabuf_v1*, uint32_t) {}  // v1/v2 only
  static void dmabuf_modifier(void* data, zwp_linux_dmabuf_v1*, uint32_t format, uint32_t hi, uint32_t lo) {
    static_cast<WaylandOutput*>(data)->dmabuf_formats_.emplace_back(format, (static_cast<uint64_t>(hi) << 32) | lo);
  }
  static constexpr zwp_linux_dmabuf_v1_listener kDmabufListener = {dmabuf_format, dmabuf_modifier};

  static void presentation_clock(void* data, wp_presentation*, uint32_t clk) {
    static_cast<WaylandOutput*>(data)->clock_ = clk;
  }
  static constexpr wp_presentation_listener kPresentationListener = {presentation_clock};

  static void wm_ping(void*, xdg_wm_base* wm, uint32_t serial) { xdg_wm_base_pong(wm, serial); }
  static constexpr xdg_wm_base_listener kWmBaseListener = {wm_ping};

  static void xs_configure(void* data, xdg_surface* xs, uint32_t serial) {
    auto* self = static_cast<WaylandOutput*>(data);
    xdg_surface_ack_configure(xs, serial);
    self->configured_ = true;
  }
  static constexpr xdg_surface_listener kXdgSurfaceListener = {xs_configure};

  static void tl_configure(void* data, xdg_toplevel*, int32_t w, int32_t h, wl_array*) {
    auto* self = static_cast<WaylandOutput*>(data);
    // 0x0: the parent leaves the size to us. Otherwise our window (and so
    // the mode our own clients are told) is what the parent's screen offers.
    if (w > 0 && h > 0) {
      self->width_ = static_cast<uint32_t>(w);
      self->height_ = static_cast<uint32_t>(h);
    }
  }
  static void tl_close(void* data, xdg_toplevel*) { static_cast<WaylandOutput*>(data)->fail("it closed our window"); }
  static void tl_configure_bounds(void*, xdg_toplevel*, int32_t, int32_t) {}
  static void tl_wm_capabilities(void*, xdg_toplevel*, wl_array*) {}
  static constexpr xdg_toplevel_listener kToplevelListener = {tl_configure, tl_close, tl_configure_bounds, tl_wm_capabilities};

  static void params_created(void* data, zwp_linux_buffer_params_v1*, wl_buffer* b) {
    auto* imp = static_cast<Import*>(data);
    imp->buffer = b;
    imp->done = true;
  }
  static void params_failed(void* data, zwp_linux_buffer_params_v1*) { static_cast<Import*>(data)->done = true; }
  static constexpr zwp_linux_buffer_params_v1_listener kParamsListener = {params_created, params_failed};

  static void buffer_release(void* data, wl_buffer*) {
    auto* r = static_cast<Remote*>(data);
    r->self->on_parent_release(r);
  }
  static constexpr wl_buffer_listener kBufferListener = {buffer_release};

  static void fb_sync_output(void*, struct wp_presentation_feedback*, wl_output*) {}
  static void fb_presented(void* data, struct wp_presentation_feedback*, uint32_t sec_hi, uint32_t sec_lo, uint32_t nsec,
                           uint32_t refresh, uint32_t seq_hi, uint32_t seq_lo, uint32_t flags) {
    auto* s = static_cast<Slot*>(data);
    Presented p;
    const uint64_t sec = (static_cast<uint64_t>(sec_hi) << 32) | sec_lo;
    // The parent's clock is CLOCK_MONOTONIC on every compositor we know (and
    // on zcpipe); if it announced another, its times are not comparable
    // with ours, so the frame is stamped on arrival instead.
    p.time_ns = s->self->clock_ == CLOCK_MONOTONIC ? sec * 1'000'000'000ull + nsec : monotonic_ns();
    p.seq = (static_cast<uint64_t>(seq_hi) << 32) | seq_lo;
    p.refresh_ns = refresh;
    p.vsync = (flags & WP_PRESENTATION_FEEDBACK_KIND_VSYNC) != 0;
    p.hw_clock = (flags & WP_PRESENTATION_FEEDBACK_KIND_HW_CLOCK) != 0;
    p.hw_completion = (flags & WP_PRESENTATION_FEEDBACK_KIND_HW_COMPLETION) != 0;
    // ZERO_COPY travels down only if it held at every hop: this one
    // forwarded the client's own buffer, and the parent (and everything
    // above it) read that buffer as it is.
    p.zero_copy = s->client_owned && (flags & WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY) != 0;
    s->self->on_feedback(*s, true, p);
  }
  static void fb_discarded(void* data, struct wp_presentation_feedback*) {
    auto* s = static_cast<Slot*>(data);
    s->self->on_feedback(*s, false, Presented{});
  }
  static constexpr wp_presentation_feedback_listener kFeedbackListener = {fb_sync_output, fb_presented, fb_discarded};

  static void frame_done(void* data, wl_callback*, uint32_t) { static_cast<WaylandOutput*>(data)->on_frame_done(); }
  static constexpr wl_callback_listener kFrameListener = {frame_done};

  wl_event_loop* loop_;
  WaylandConfig cfg_;
  uint32_t width_ = 0, height_ = 0;
  wl_display* parent_ = nullptr;
  wl_event_queue* private_q_ = nullptr;
  wl_registry* registry_ = nullptr;
  wl_compositor* compositor_ = nullptr;
  xdg_wm_base* wm_base_ = nullptr;
  wl_shm* shm_ = nullptr;
  zwp_linux_dmabuf_v1* dmabuf_ = nullptr;
  uint32_t dmabuf_version_ = 0;
  wp_presentation* presentation_ = nullptr;
  uint32_t clock_ = CLOCK_MONOTONIC;
  wl_surface* surface_ = nullptr;
  xdg_surface* xdg_surface_ = nullptr;
  xdg_toplevel* toplevel_ = nullptr;
  wl_callback* frame_cb_ = nullptr;
  wl_event_source* fd_source_ = nullptr;
  wl_event_source* idle_ = nullptr;
  wl_event_source* idle_dispatch_ = nullptr;
  bool in_withdraw_ = false;
  bool vblank_deferred_ = false;
  bool want_writable_ = false;
  bool configured_ = false;
  bool mapped_role_ = false;
  bool ever_mapped_ = false;
  bool attached_ = false;
  bool lost_ = false;
  bool warned_import_ = false;
  uint64_t current_tag_ = 0;
  std::vector<std::pair<uint32_t, uint64_t>> dmabuf_formats_;
  std::vector<uint32_t> shm_formats_;
  std::unordered_map<const buffer::Buffer*, std::unique_ptr<Remote>> remotes_;
  std::array<Slot, kSlots> slots_{};
  bool warned_copy_ = false;
  struct {
    uint64_t forwarded_dmabuf = 0, forwarded_shm = 0, not_forwarded = 0;
    uint64_t parent_buffers_dmabuf = 0, parent_buffers_shm = 0, parent_buffers_destroyed = 0, import_failures = 0;
    uint64_t parent_releases = 0, parent_presented = 0, parent_zero_copy = 0, parent_discarded = 0;
    uint64_t released_after_parent = 0, presented_before_release = 0, max_held = 0, fallback_copies = 0;
  } counters_;
};

}  // namespace

Result<std::unique_ptr<Output>> create_wayland(wl_event_loop* loop, const WaylandConfig& config) {
  auto out = std::make_unique<WaylandOutput>(loop, config);
  if (auto r = out->init(); !r) return r.error();
  return std::unique_ptr<Output>(std::move(out));
}

}  // namespace zc::output
