// The KMS output, in the order a frame travels (see kms_output.h):
//   present → direct or copy → commit → flip event → release.
// Set-up, VT switches and the tear-down that puts the display back live in
// kms_session.cpp; the class itself in kms_output_impl.h. The pieces it
// stands on, each in its own file:
//   pipeline.h     which connector, CRTC and plane; which formats
//   modes.h        which mode
//   commit.h       how a commit reaches the kernel (atomic or legacy)
//   flip_queue.h   queued / in flight / on screen
//   copy.h         the copy fallback's buffers and pixel conversion
//   framebuffer.h  client dma-buf -> FB ID
#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "output/kms/kms_output_impl.h"
#include "output/read_back.h"
#include "stats/ledger.h"
#include "stats/trace.h"

namespace zc::output::kms {

// ------------------------------------------------------------ present
void KmsOutput::present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) {
  fresh_dispatch();
  sweep();
  // A frame still waiting is replaced before it was committed: the display
  // never read it. (Dropped first, so its copy target is free for this one.)
  if (auto old = flips_.take_queued()) discard(std::move(*old));
  Frame f;
  f.has_tag = true;
  f.tag = tag;
  f.buffer = buffer;
  f.client_owned = client_owned;

  // Direct: the plane reads the client's buffer itself, if nothing about it
  // rules that out, it imports, and the driver says yes to a test commit.
  ScanoutReasons why = direct_blockers(*buffer);
  if (why.empty()) {
    auto fb = framebuffer_for(buffer);
    if (!fb) {
      why.add(ScanoutReason::import_failed);
      log::debug("kms: tag {}: import failed: {}", tag, fb.error().message());
    } else if (!paused_) {
      if (auto t = committer_->test(**fb, needs_modeset_); !t) {
        why.add(ScanoutReason::test_only_failed);
        log::debug("kms: tag {}: TEST_ONLY rejected: {}", tag, t.error().message());
      }
    }
    if (why.empty()) {
      f.fb = std::move(fb.value());
      f.shown = buffer;
      f.direct = true;
      n_.direct++;
      // The GPU may still be drawing it: take its fence now, before anyone
      // else could queue more work on the buffer (fence.h).
      if (auto fence = FrameFence::take(fence_ops_, buffer->desc(), now())) {
        if (fence->merged()) n_.fences_merged++;
        f.fence = std::move(fence.value());
      } else {
        log::debug("kms: tag {}: no fence to wait for: {}", tag, fence.error().message());
      }
    }
  }
  // Or a copy the plane can read: now, or once the GPU is done with the
  // buffer (the frame then waits in the queue, its copy not yet made).
  if (!f.direct) {
    if (auto r = copy(f, why); !r) {
      unshowable(std::move(f), r.error());
      return;
    }
  }
  flips_.queue(std::move(f));
  commit_queued();
}

// Every reason, visible without asking the kernel, that a buffer cannot go
// on the primary plane as it is (all of them, not the first: a client must
// fix them all to be scanned out).
ScanoutReasons KmsOutput::direct_blockers(const buffer::Buffer& b) const {
  ScanoutReasons why;
  const auto& plane_formats = pipe_.plane_formats;
  const bool format_ok = std::find(plane_formats.begin(), plane_formats.end(), b.format()) != plane_formats.end();
  if (!format_ok) why.add(ScanoutReason::format_not_on_plane);
  // A memfd sent as a "dma-buf" (linux-dmabuf takes any fd) cannot be
  // imported: the display engine can only read memory a driver exported.
  if (b.kind() != buffer::Kind::dmabuf) why.add(ScanoutReason::not_dmabuf);
  // The layout, judged only for a format the plane takes (else the format
  // is the reason).
  const uint64_t mod = b.desc().modifier;
  if (format_ok && mod != DRM_FORMAT_MOD_INVALID &&
      std::find(formats_.begin(), formats_.end(), std::pair<uint32_t, uint64_t>(b.format(), mod)) == formats_.end())
    why.add(ScanoutReason::modifier_not_on_plane);
  // A bottom-up buffer (OpenGL's row order) would be shown upside down: the
  // plane reads rows top to bottom. (Some planes could mirror it with the
  // "rotation" property's reflect-y; Weston and zcpipe copy instead.)
  if (b.desc().y_invert) why.add(ScanoutReason::y_invert);
  // Many primary planes (virtio-gpu's among them) must cover the whole CRTC
  // and cannot scale: the buffer must have the mode's size.
  if (b.width() != mode_().hdisplay || b.height() != mode_().vdisplay) why.add(ScanoutReason::size_mismatch);
  return why;
}

// One framebuffer per client buffer, made on first use and kept while the
// buffer lives: importing costs ioctls, and the FB ID is what a commit takes.
Result<std::shared_ptr<Framebuffer>> KmsOutput::framebuffer_for(const std::shared_ptr<buffer::Buffer>& b) {
  auto it = cache_.find(b.get());
  // The key is an address: a new buffer may reuse a dead one's. The weak
  // pointer tells them apart.
  if (it != cache_.end() && it->second.buffer.lock() != b) {
    cache_.erase(it);
    it = cache_.end();
  }
  if (it == cache_.end()) {
    Cached c;
    c.buffer = b;
    auto fb = Framebuffer::import(dev_->drm_ptr(), b->desc(), dev_->caps().addfb2_modifiers, fb_counters_);
    if (fb) c.fb = std::move(fb.value());
    else c.error = fb.error().message();
    it = cache_.emplace(b.get(), std::move(c)).first;
  }
  if (!it->second.fb) return Error{0, it->second.error};
  return it->second.fb;
}

// A buffer of ours the plane can read, for a copy: leased from the display's
// one scanout planner (the compositor's own copies come from it too, so the
// two never hold more buffers than its cap) and registered as a framebuffer
// once, like a client buffer (framebuffer_for keeps the FB while the buffer
// lives).
Result<void> KmsOutput::lease_copy_target(Frame& f) {
  auto planner = scanout_planner();
  if (!planner) return planner.error();
  auto lease = (*planner)->acquire(mode_().hdisplay, mode_().vdisplay, DRM_FORMAT_XRGB8888, buffer::ScanoutUser::output);
  if (!lease) return Error{lease.error().code, "no scanout buffer for the copy: " + lease.error().message()};
  auto fb = framebuffer_for(lease->shared_buffer());
  if (!fb) return fb.error();
  f.fb = std::move(fb.value());
  f.shown = lease->shared_buffer();
  f.copy = std::move(*lease);
  return {};
}

// The copy fallback: the CPU puts the frame into a buffer of ours. True:
// copied; false: the buffer's fence has not signalled, and the copy waits
// for it in the event loop (on_fence_readable makes it).
Result<bool> KmsOutput::copy(Frame& f, ScanoutReasons reasons) {
  f.reasons = reasons;
  f.direct = false;
  // A tiled buffer the plane refused cannot be copied either: the CPU would
  // read its tiles as rows. Refused (discarded by the caller), with the
  // reason, rather than shown scrambled.
  if (!copy_reads_layout(f.buffer->desc().modifier)) {
    f.reasons.add(ScanoutReason::modifier_not_linear);
    n_.refused++;
    return Error{EINVAL, fmt::format("{} is not a layout the CPU copy reads", modifier_name(f.buffer->desc().modifier))};
  }
  // Reading a dma-buf with the CPU means waiting for whoever writes it: the
  // copy brackets its reads with DMA_BUF_IOCTL_SYNC(START|READ), and that
  // ioctl sleeps, inside the kernel, until the buffer's write fences signal
  // — with the whole compositor stopped, for as long as the GPU renders.
  // So the fence is asked first, without waiting (a frame refused at commit
  // time brings the one it took already). Shared memory has no fences.
  f.copy_wanted_ns = now();
  if (!f.fence && f.buffer->kind() == buffer::Kind::dmabuf) {
    if (auto fence = FrameFence::take(fence_ops_, f.buffer->desc(), f.copy_wanted_ns)) {
      if (fence->merged()) n_.fences_merged++;
      f.fence = std::move(fence.value());
    } else {
      log::debug("kms: tag {}: no fence to wait for before the copy: {}", f.tag, fence.error().message());
    }
  }
  if (f.fence) f.copy_wait = output::CopyFenceWait{};
  if (f.fence && !f.fence->wait_in_loop(loop_, &on_fence_readable, this, f.copy_wanted_ns)) {
    ZC_TRACE("the copy waits for the GPU in the event loop (the buffer's fence is watched), not in DMA_BUF_IOCTL_SYNC", 0);
    f.copy_pending = true;
    f.copy_wait->waited = true;
    n_.copies_waited++;
    return false;
  }
  auto r = copy_when_signalled(f);
  if (!r) return r.error();
  return *r;
}

// The copy itself, once nothing is left to wait for (false: still waiting,
// for another of the buffer's objects).
Result<bool> KmsOutput::copy_when_signalled(Frame& f) {
  const uint64_t now = this->now();
  if (f.fence && !f.fence->wait_in_loop(loop_, &on_fence_readable, this, now)) return false;
  f.copy_pending = false;
  if (f.copy_wait && f.copy_wait->waited) {
    f.copy_wait->wait_ns = now - f.copy_wanted_ns;
    ZC_TRACE(fmt::format("the buffer's fence signalled after {} us: the copy runs now, and DMA_BUF_IOCTL_SYNC has "
                         "nothing left to wait for",
                         (now - f.copy_wanted_ns) / 1000),
             0);
  }
  // The fence has done its work: the CPU reads a finished buffer.
  f.fence.reset();
  if (auto r = lease_copy_target(f); !r) return r.error();
  bool converted = false;
  auto bytes = copy_frame(*f.buffer, f.copy, converted);
  if (!bytes) return bytes.error();
  n_.copied++;
  // The CPU copy goes to the ledger of the frame being committed now (the
  // reasons travel with the frame, in Presented).
  static constexpr const char* kWhere[2][2] = {
      {"memcpy: scanout buffer -> dumb buffer (scanout fallback)", "memcpy: client buffer -> dumb buffer (scanout fallback)"},
      {"convert: scanout buffer -> dumb buffer (scanout fallback)", "convert: client buffer -> dumb buffer (scanout fallback)"}};
  const char* where = kWhere[converted ? 1 : 0][f.client_owned ? 1 : 0];
  if (log::level() >= log::Level::debug) log::debug("kms: tag {}: {} ({})", f.tag, where, f.reasons.describe());
  if (cb_.copied) cb_.copied(f.tag, *bytes, where);
  return true;
}

// A frame that can be shown neither directly nor as a copy: logged (once
// at warning level: a client that keeps sending frames the display cannot
// show must not flood the log) and discarded.
void KmsOutput::unshowable(Frame f, const Error& e) {
  const auto level = warned_unshowable_ ? log::Level::debug : log::Level::warn;
  if (log::level() >= level)
    log::write(level, fmt::format("kms: frame (tag {}) cannot be shown: {}, and {}", f.tag, f.reasons.describe(),
                                  e.message()));
  warned_unshowable_ = true;
  discard(std::move(f));
}

// A frame that will never be shown; its buffers (and copy target) go with it.
void KmsOutput::discard(Frame f) {
  n_.discarded++;
  if (f.has_tag && cb_.discarded) cb_.discarded(f.tag);
}

// Drops the framebuffers of buffers that are gone (the client destroyed the
// wl_buffer). A frame still on screen or in flight holds its own reference,
// so its framebuffer is removed only once the flip replacing it completed.
void KmsOutput::sweep() {
  std::erase_if(cache_, [](const auto& kv) { return kv.second.buffer.expired(); });
}

// --verify: how to read what frame `f` put on the plane. A client's dma-buf
// scanned out directly may be a GPU's buffer: tiled or compressed, or (virgl)
// in memory only the host's GPU holds. Read it through its driver (GBM),
// which detiles or fetches it; read_back.h says why a CPU mapping cannot.
// The output's own copies are its CPU's writes into dumb buffers: mmap reads
// them as they are (nullptr here). Imported once per buffer, kept with its
// framebuffer in the cache; an import that failed is not tried again.
DriverImage* KmsOutput::verify_image(const Frame& f) {
  if (!f.direct || !f.client_owned || !f.shown || f.shown->kind() != buffer::Kind::dmabuf) return nullptr;
  if (!std::exchange(verify_reader_tried_, true)) {
    if (cfg_.verify_reader) {
      verify_reader_ = cfg_.verify_reader();
    } else if (auto r = make_gbm_reader(drm_.fd())) {
      verify_reader_ = std::move(r.value());
    } else {
      log::info("kms: --verify reads client dma-bufs by mmap: no GBM on {} ({})", dev_->path(),
                r.error().message());
    }
  }
  if (!verify_reader_) return nullptr;
  auto it = cache_.find(f.shown.get());
  if (it == cache_.end() || it->second.buffer.lock() != f.shown) return nullptr;
  Cached& c = it->second;
  if (!std::exchange(c.verify_import_tried, true)) {
    if (auto img = verify_reader_->import(*f.shown)) {
      c.verify_image = std::move(img.value());
    } else if (!std::exchange(warned_verify_import_, true)) {
      log::warn("kms: --verify cannot import a client dma-buf into the driver ({}): reading it by mmap",
                img.error().message());
    }
  }
  return c.verify_image.get();
}

// ------------------------------------------------------------ commit
uint64_t KmsOutput::now() {
  if (now_ns_ == 0) now_ns_ = monotonic_ns();
  return now_ns_;
}

void KmsOutput::commit_queued() {
  if (!flips_.ready() || paused_ || modeset_idle_ != nullptr) return;
  Frame& f = *flips_.queued();
  // Its copy has not been made yet: the fence watch will make it, then
  // come back here.
  if (f.copy_pending) return;
  // A buffer the GPU may still be drawing: either the commit carries its
  // fence (IN_FENCE_FD), or the loop waits for it, without blocking, and
  // calls back here once it signalled (fence.h).
  if (f.direct && f.fence &&
      !f.fence->ready_to_commit(committer_->takes_in_fences(), loop_, &on_fence_readable, this, now()))
    return;
  auto r = commit(f);
  if (!r && r.error().code != EBUSY && f.direct && f.has_tag) {
    // The kernel refused at commit time what looked fine (legacy has no
    // TEST_ONLY): show a copy instead. The copy keeps the frame's fence and
    // waits for it in the loop if the GPU is not done (never in the ioctl).
    n_.commit_failures++;
    f.fb.reset();
    f.shown.reset();
    log::debug("kms: tag {}: commit refused ({}): copying", f.tag, r.error().message());
    auto c = copy(f, ScanoutReason::commit_failed);
    if (!c) {
      unshowable(std::move(*flips_.failed()), c.error());
      return;
    }
    if (!*c) return;  // the fence watch copies, then commits
    r = commit(f);
  }
  if (!r && r.error().code == EBUSY) {
    // The previous commit is still being processed (ours just completed, or
    // someone else's): try again shortly.
    n_.ebusy++;
    if (flips_.busy() == 50) log::warn("kms: CRTC {} stays busy (EBUSY on 50 commits in a row)", pipe_.crtc_id);
    wl_event_source_timer_update(retry_timer_, 1);
    return;
  }
  if (!r) {
    n_.commit_failures++;
    log::warn("kms: commit of frame (tag {}) failed: {}", f.tag, r.error().message());
    discard(std::move(*flips_.failed()));
    return;
  }
  n_.commits++;
  touched_ = true;
  flips_.committed();
}

Result<void> KmsOutput::commit(Frame& f) {
  const uint64_t serial = serial_ + 1;
  CommitFences fences;
  if (f.direct && f.fence) {
    fences.in_fence_fd = f.fence->is_sync_file() ? f.fence->fd() : -1;
    fences.want_out_fence = true;
  }
  const uint64_t now = this->now();
  auto r = committer_->page_flip(*f.fb, needs_modeset_, serial, &fences);
  if (!r) return r.error();
  if (f.direct && f.fence) f.fence->committed(fences.in_fence_attached, now, std::move(fences.out_fence));
  // A legacy modeset is blocking and sends no event: the frame is on screen
  // already. Its completion is reported from an idle callback, so that
  // present() never calls back into the server re-entrantly.
  if (*r == Completion::done_now) modeset_idle_ = wl_event_loop_add_idle(loop_, &on_modeset_done, this);
  serial_ = serial;
  needs_modeset_ = false;
  return {};
}

int KmsOutput::on_retry_timer(void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  self->fresh_dispatch();
  self->commit_queued();
  return 0;
}

// A fence of the queued frame became readable (only the queued frame waits:
// one replaced meanwhile took its watch with it). A copy waiting for it is
// made now; then the commit goes out, if nothing else holds it back.
int KmsOutput::on_fence_readable(int, uint32_t, void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  self->fresh_dispatch();
  Frame* q = self->flips_.queued();
  if (q != nullptr && q->fence) q->fence->readable();
  if (q != nullptr && q->copy_pending) {
    auto r = self->copy_when_signalled(*q);
    if (!r) {
      self->unshowable(std::move(*self->flips_.take_queued()), r.error());
      return 0;
    }
    if (!*r) return 0;  // another of the buffer's objects is still being written
  }
  self->commit_queued();
  return 0;
}

// ------------------------------------------------------------ flip event
int KmsOutput::on_drm_readable(int, uint32_t, void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  self->fresh_dispatch();
  const int err = self->drm_.handle_events([self](const FlipEvent& e) {
    if (self->flips_.in_flight() == nullptr || e.user_data != self->serial_) {
      log::debug("kms: page-flip event for commit {} ignored (none of ours in flight)", e.user_data);
      return;
    }
    const uint64_t t = self->dev_->caps().monotonic_timestamps ? e.time_ns : self->now();
    self->on_flip(t, e.sequence);
  });
  if (err != 0) log::warn("kms: drmHandleEvent: {}", std::strerror(err));
  return 0;
}

void KmsOutput::on_modeset_done(void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  self->fresh_dispatch();
  self->modeset_idle_ = nullptr;
  if (self->flips_.in_flight() != nullptr) self->on_flip(self->now(), 0);
  else self->commit_queued();
}

// The commit in flight is on screen.
void KmsOutput::on_flip(uint64_t time_ns, uint32_t sequence) {
  n_.flips++;
  std::optional<Frame> old = flips_.flipped();
  Frame& cur = *flips_.on_screen();

  Presented p;
  p.time_ns = time_ns;
  p.hw_completion = true;  // the kernel's event: the display took the frame
  if (has_vblank_) {
    p.seq = sequence;
    p.refresh_ns = static_cast<uint32_t>(1'000'000'000'000ull / std::max<uint32_t>(1, refresh_mhz(mode_())));
    p.vsync = true;
    p.hw_clock = true;
  }
  // Without vblank (virtio-gpu) the event's sequence is always 0 and there
  // is no fixed refresh: wp_presentation asks for seq 0 and refresh 0 then,
  // and the timestamp is when the host took the frame, not a scan-out time.
  p.zero_copy = cur.client_owned && cur.direct;
  p.direct = cur.direct;
  p.reasons = cur.reasons;
  if (cur.fence) {
    p.fence = cur.fence->flipped(time_ns);  // and its descriptors close
    cur.fence.reset();
    (p.fence->attached ? n_.fences_attached : n_.fences_waited)++;
    if (p.fence->out_fence) n_.out_fences++;
  }
  p.copy_fence = cur.copy_wait;
  const bool tagged = cur.has_tag;
  const uint64_t tag = cur.tag;
  // Keep the display busy: commit the next frame before calling anyone.
  if (cur.withdrawn && flips_.queued() == nullptr) queue_blank();
  commit_queued();
  if (cfg_.verify) {
    // All of it is --verify's cost, not the pipeline's: the driver's
    // set-up (GBM is made at the first frame that needs it, each buffer
    // imported once) as well as the reads. One scope; those inside
    // read_back() and last_look() nest in it.
    stats::ScopedVerify verify;
    // The outgoing frame first: the display's last look at it, the moment
    // after this flip replaced it and before its buffer is released.
    if (old && old->has_tag && old->shown) witness_.leaving(*old->shown, verify_image(*old));
    if (tagged && cur.shown) {
      read_back(*cur.shown, p, verify_image(cur));
      witness_.shown(p);
    }
  }

  // ------------------------------------------------------------ release
  // The previous frame's buffers are free now: the flip that replaced it
  // completed, so the display no longer reads them.
  const bool old_tagged = old && old->has_tag;
  const uint64_t old_tag = old ? old->tag : 0;
  old.reset();  // its framebuffer goes if the buffer is gone too (after sweep)
  sweep();
  if (old_tagged && cb_.released) cb_.released(old_tag);
  if (tagged && cb_.presented) cb_.presented(tag, p);
  if (cb_.vblank) cb_.vblank(time_ns);
}

// ------------------------------------------------------------ withdraw, vblank
// After a withdraw: a black frame replaces the gone surface's buffer, so
// that buffer can be released.
bool KmsOutput::queue_blank() {
  Frame b;
  Result<void> r = lease_copy_target(b);
  if (r) r = clear_frame(b.copy);
  if (!r) {
    log::warn("kms: cannot blank the screen: {}", r.error().message());
    return false;
  }
  flips_.queue(std::move(b));
  n_.blanked++;
  return true;
}

void KmsOutput::withdraw(uint64_t tag) {
  fresh_dispatch();
  auto ours = [tag](const Frame* f) { return f != nullptr && f->has_tag && f->tag == tag; };
  if (ours(flips_.queued())) discard(std::move(*flips_.take_queued()));
  // In flight: it will reach the screen; blank after it.
  if (ours(flips_.in_flight())) flips_.in_flight()->withdrawn = true;
  if (ours(flips_.on_screen())) {
    flips_.on_screen()->withdrawn = true;
    if (flips_.idle() && !queue_blank()) {
      // Could not blank: let go anyway (RmFB turns the plane off).
      flips_.take_current();
      if (cb_.released) cb_.released(tag);
      return;
    }
    commit_queued();
  }
}

void KmsOutput::schedule_vblank() {
  // A flip on its way brings the vblank with it.
  if (!flips_.idle()) return;
  // Nothing to flip: fake one refresh later (frame callbacks wait on it).
  const uint32_t mhz = std::max<uint32_t>(1000, refresh_mhz(mode_()));
  wl_event_source_timer_update(vblank_timer_, static_cast<int>(std::max<uint32_t>(1, 1'000'000 / mhz)));
}

int KmsOutput::on_vblank_timer(void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  if (self->cb_.vblank) self->cb_.vblank(monotonic_ns());
  return 0;
}

}  // namespace zc::output::kms
