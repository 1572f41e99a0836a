// The KMS output, in the order a frame travels (see kms_output.h):
//   present → direct or copy → commit → flip event → release.
// The pieces it stands on, each in its own file:
//   pipeline.h     which connector, CRTC and plane; which formats
//   modes.h        which mode
//   commit.h       how a commit reaches the kernel (atomic or legacy)
//   flip_queue.h   queued / in flight / on screen
//   copy.h         the copy fallback's buffers and pixel conversion
//   framebuffer.h  client dma-buf -> FB ID
#include "output/kms/kms_output.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "output/kms/commit.h"
#include "output/kms/copy.h"
#include "output/kms/dumb.h"
#include "output/kms/fence.h"
#include "output/kms/flip_queue.h"
#include "output/kms/framebuffer.h"
#include "output/kms/pipeline.h"
#include "output/read_back.h"

namespace zc::output {
namespace {
using namespace kms;

class KmsOutput final : public Output {
 public:
  KmsOutput(wl_event_loop* loop, std::shared_ptr<Device> device, KmsConfig config)
      : loop_(loop), dev_(std::move(device)), drm_(dev_->drm()), cfg_(std::move(config)) {}
  ~KmsOutput() override;

  Result<void> init();

  std::string name() const override { return "kms"; }
  std::string description() const override { return description_; }
  Mode mode() const override { return Mode{mode_().hdisplay, mode_().vdisplay, refresh_mhz(mode_())}; }
  std::optional<dev_t> device() const override { return dev_->dev(); }
  std::vector<std::pair<uint32_t, uint64_t>> scanout_formats() const override { return formats_; }
  std::vector<std::pair<uint32_t, uint64_t>> importable_formats() const override { return importable_; }
  void present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) override;
  void schedule_vblank() override;
  void withdraw(uint64_t tag) override;
  bool scanout_covers_mode() const override { return true; }
  Result<std::unique_ptr<buffer::Allocator>> scanout_allocator() override {
    return create_dumb_allocator(std::weak_ptr<Device>(dev_));
  }
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

 private:
  // What the primary plane shows (or is about to): a framebuffer, and the
  // buffers it must keep alive while the display may read them.
  struct Frame {
    bool has_tag = false;  // false: a blank frame (after a withdraw)
    uint64_t tag = 0;
    std::shared_ptr<buffer::Buffer> buffer;  // what present() received
    std::shared_ptr<buffer::Buffer> shown;   // what the plane reads: `buffer`, or a copy of it
    std::shared_ptr<Framebuffer> fb;
    CopyPool::Lease copy;  // the copy target, when copied
    bool client_owned = false;
    bool direct = false;
    ScanoutReasons reasons;  // why it was copied
    bool withdrawn = false;  // its surface is gone: blank the screen after it
    std::optional<FrameFence> fence;  // a direct dma-buf's render fence (fence.h)
  };
  struct Cached {
    std::weak_ptr<buffer::Buffer> buffer;  // expired = the wl_buffer is gone
    std::shared_ptr<Framebuffer> fb;
    std::string error;                     // why it could not be imported
  };

  const drmModeModeInfo& mode_() const { return pipe_.mode; }
  ScanoutReasons direct_blockers(const buffer::Buffer& b) const;
  Result<std::shared_ptr<Framebuffer>> framebuffer_for(const std::shared_ptr<buffer::Buffer>& b);
  Result<void> copy(Frame& f, ScanoutReasons reasons);
  void discard(Frame f);
  void commit_queued();
  Result<void> commit(Frame& f);
  void on_flip(uint64_t time_ns, uint32_t sequence);
  bool queue_blank();
  void sweep();
  void pause();
  void resume();
  void restore();
  void wait_for_flip(int timeout_ms);

  static int on_drm_readable(int fd, uint32_t mask, void* data);
  static int on_retry_timer(void* data);
  static int on_fence_readable(int fd, uint32_t mask, void* data);
  static int on_vblank_timer(void* data);
  static void on_modeset_done(void* data);

  wl_event_loop* loop_;
  std::shared_ptr<Device> dev_;
  Drm& drm_;
  KmsConfig cfg_;
  Pipeline pipe_;
  std::unique_ptr<Committer> committer_;
  bool has_vblank_ = false;
  std::string description_ = "kms";
  std::vector<std::pair<uint32_t, uint64_t>> formats_, importable_;
  CrtcInfo saved_crtc_;

  bool needs_modeset_ = true;  // first commit, and after the seat comes back
  bool paused_ = false;
  bool touched_ = false;       // we committed something: restore at exit
  uint64_t serial_ = 0;        // user_data of the commit in flight
  FlipQueue<Frame> flips_;
  std::unique_ptr<CopyPool> copies_;
  std::unordered_map<const buffer::Buffer*, Cached> cache_;

  wl_event_source* drm_source_ = nullptr;
  wl_event_source* retry_timer_ = nullptr;
  wl_event_source* vblank_timer_ = nullptr;
  wl_event_source* modeset_idle_ = nullptr;

  // Shared with the framebuffers, which may outlive this output.
  std::shared_ptr<FramebufferCounters> fb_counters_ = std::make_shared<FramebufferCounters>();
  struct {
    uint64_t commits = 0, flips = 0, ebusy = 0, commit_failures = 0;
    uint64_t direct = 0, copied = 0, discarded = 0, blanked = 0;
    uint64_t fences_attached = 0, fences_waited = 0, out_fences = 0;
  } n_;
};

// ------------------------------------------------------------ set-up
Result<void> KmsOutput::init() {
  const Caps& caps = dev_->caps();
  if (cfg_.atomic && !caps.atomic)
    log::info("kms: {} has no atomic modesetting: using legacy drmModeSetCrtc/drmModePageFlip", dev_->path());
  auto p = choose_pipeline(drm_, caps, dev_->path(), cfg_.mode, caps.atomic);
  if (!p) return p.error();
  pipe_ = std::move(p.value());

  const Target target{pipe_.connector_id, pipe_.crtc_id, pipe_.plane_id, pipe_.mode};
  if (caps.atomic) {
    auto c = make_atomic_committer(dev_->drm_ptr(), target);
    if (c) committer_ = std::move(c.value());
    else log::info("kms: {}: using legacy modesetting", c.error().message());
  }
  if (!committer_) committer_ = make_legacy_committer(dev_->drm_ptr(), target);
  if (!cfg_.export_fence) cfg_.export_fence = buffer::export_sync_file;
  formats_ = kms::scanout_formats(drm_, pipe_);
  importable_ = kms::importable_formats(formats_, pipe_.plane_formats, caps.addfb2_modifiers);
  copies_ = std::make_unique<CopyPool>(dev_, pipe_.mode.hdisplay, pipe_.mode.vdisplay, fb_counters_);

  // What to put back at exit.
  if (const int err = drm_.crtc(pipe_.crtc_id, saved_crtc_); err != 0) saved_crtc_ = CrtcInfo{};
  // Does this CRTC have a vblank counter? virtio-gpu has none: its flip
  // events come when the host has taken the frame, with sequence 0.
  uint64_t seq = 0, ns = 0;
  has_vblank_ = drm_.crtc_sequence(pipe_.crtc_id, seq, ns) != EOPNOTSUPP;

  drm_source_ = wl_event_loop_add_fd(loop_, drm_.fd(), WL_EVENT_READABLE, &on_drm_readable, this);
  retry_timer_ = wl_event_loop_add_timer(loop_, &on_retry_timer, this);
  vblank_timer_ = wl_event_loop_add_timer(loop_, &on_vblank_timer, this);
  if (drm_source_ == nullptr || retry_timer_ == nullptr || vblank_timer_ == nullptr)
    return Error::from_errno("wl_event_loop_add_fd/timer");
  dev_->set_session_handlers([this] { pause(); }, [this] { resume(); });

  std::string fmts;
  for (uint32_t f : pipe_.plane_formats) fmts += (fmts.empty() ? "" : " ") + format_name(f);
  description_ = fmt::format("kms: {} (driver {}), connector {}, mode {}, {}", dev_->path(), drm_.driver_name(),
                             pipe_.connector_name, mode_name(mode_()), committer_->name());
  log::info("kms: {} ({}, {}): {} {}, CRTC {}, primary plane {} [{}], {}{}{}", dev_->path(), drm_.driver_name(),
            dev_->access(), pipe_.connector_name, mode_name(mode_()), pipe_.crtc_id, pipe_.plane_id, fmts,
            committer_->name(), caps.addfb2_modifiers ? "" : ", no ADDFB2 modifiers",
            has_vblank_ ? "" : ", no vblank (flip events only)");
  return {};
}

// ------------------------------------------------------------ present
void KmsOutput::present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) {
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
      if (auto fence = FrameFence::take(cfg_.export_fence, buffer->desc().planes[0].fd.get(), monotonic_ns()))
        f.fence = std::move(fence.value());
      else
        log::debug("kms: tag {}: no fence to wait for: {}", tag, fence.error().message());
    }
  }
  // Or a copy the plane can read.
  if (!f.direct) {
    if (auto r = copy(f, why); !r) {
      log::warn("kms: frame (tag {}) cannot be shown: {}, and {}", tag, why.describe(), r.error().message());
      discard(std::move(f));
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

// The copy fallback: the CPU puts the frame into a buffer of ours.
Result<void> KmsOutput::copy(Frame& f, ScanoutReasons reasons) {
  uint64_t bytes = 0;
  bool converted = false;
  auto lease = copies_->copy(*f.buffer, bytes, converted);
  if (!lease) return lease.error();
  f.fb = lease.value()->fb;
  f.shown = lease.value()->buffer;
  f.copy = std::move(lease.value());
  f.direct = false;
  f.reasons = reasons;
  n_.copied++;
  // The CPU copy goes to the ledger of the frame being committed now (the
  // reasons travel with the frame, in Presented).
  static constexpr const char* kWhere[2][2] = {
      {"memcpy: scanout buffer -> dumb buffer (scanout fallback)", "memcpy: client buffer -> dumb buffer (scanout fallback)"},
      {"convert: scanout buffer -> dumb buffer (scanout fallback)", "convert: client buffer -> dumb buffer (scanout fallback)"}};
  const char* where = kWhere[converted ? 1 : 0][f.client_owned ? 1 : 0];
  if (log::level() >= log::Level::debug) log::debug("kms: tag {}: {} ({})", f.tag, where, reasons.describe());
  if (cb_.copied) cb_.copied(f.tag, bytes, where);
  return {};
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

// ------------------------------------------------------------ commit
void KmsOutput::commit_queued() {
  if (!flips_.ready() || paused_ || modeset_idle_ != nullptr) return;
  Frame& f = *flips_.queued();
  // A buffer the GPU may still be drawing: either the commit carries its
  // fence (IN_FENCE_FD), or the loop waits for it, without blocking, and
  // calls back here once it signalled (fence.h).
  if (f.fence && !f.fence->ready_to_commit(committer_->takes_in_fences(), loop_, &on_fence_readable, this,
                                           monotonic_ns()))
    return;
  auto r = commit(f);
  if (!r && r.error().code != EBUSY && f.direct && f.has_tag) {
    // The kernel refused at commit time what looked fine (legacy has no
    // TEST_ONLY): show a copy instead.
    n_.commit_failures++;
    f.fb.reset();
    f.shown.reset();
    f.fence.reset();  // the copy reads the buffer through the CPU (DMA_BUF_IOCTL_SYNC waits)
    log::debug("kms: tag {}: commit refused ({}): copying", f.tag, r.error().message());
    if (copy(f, ScanoutReason::commit_failed)) r = commit(f);
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
  if (f.fence) {
    fences.in_fence_fd = f.fence->is_sync_file() ? f.fence->fd() : -1;
    fences.want_out_fence = true;
  }
  const uint64_t now = monotonic_ns();
  auto r = committer_->page_flip(*f.fb, needs_modeset_, serial, &fences);
  if (!r) return r.error();
  if (f.fence) f.fence->committed(fences.in_fence_attached, now, std::move(fences.out_fence));
  // A legacy modeset is blocking and sends no event: the frame is on screen
  // already. Its completion is reported from an idle callback, so that
  // present() never calls back into the server re-entrantly.
  if (*r == Completion::done_now) modeset_idle_ = wl_event_loop_add_idle(loop_, &on_modeset_done, this);
  serial_ = serial;
  needs_modeset_ = false;
  return {};
}

int KmsOutput::on_retry_timer(void* data) {
  static_cast<KmsOutput*>(data)->commit_queued();
  return 0;
}

// The queued frame's fence signalled (only the queued frame waits: one
// replaced meanwhile took its watch with it).
int KmsOutput::on_fence_readable(int, uint32_t, void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  if (Frame* q = self->flips_.queued(); q != nullptr && q->fence) q->fence->signalled(monotonic_ns());
  self->commit_queued();
  return 0;
}

// ------------------------------------------------------------ flip event
int KmsOutput::on_drm_readable(int, uint32_t, void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  const int err = self->drm_.handle_events([self](const FlipEvent& e) {
    if (self->flips_.in_flight() == nullptr || e.user_data != self->serial_) {
      log::debug("kms: page-flip event for commit {} ignored (none of ours in flight)", e.user_data);
      return;
    }
    const uint64_t t = self->dev_->caps().monotonic_timestamps ? e.time_ns : monotonic_ns();
    self->on_flip(t, e.sequence);
  });
  if (err != 0) log::warn("kms: drmHandleEvent: {}", std::strerror(err));
  return 0;
}

void KmsOutput::on_modeset_done(void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  self->modeset_idle_ = nullptr;
  if (self->flips_.in_flight() != nullptr) self->on_flip(monotonic_ns(), 0);
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
  const bool tagged = cur.has_tag;
  const uint64_t tag = cur.tag;
  // Keep the display busy: commit the next frame before calling anyone.
  if (cur.withdrawn && flips_.queued() == nullptr) queue_blank();
  commit_queued();
  if (cfg_.verify && tagged && cur.shown) read_back(*cur.shown, p);

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
  auto lease = copies_->blank();
  if (!lease) {
    log::warn("kms: cannot blank the screen: {}", lease.error().message());
    return false;
  }
  Frame b;
  b.fb = lease.value()->fb;
  b.shown = lease.value()->buffer;
  b.copy = std::move(lease.value());
  flips_.queue(std::move(b));
  n_.blanked++;
  return true;
}

void KmsOutput::withdraw(uint64_t tag) {
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

// ------------------------------------------------------------ VT switches
void KmsOutput::pause() {
  log::info("kms: the seat is gone (VT switch): not touching the display until it comes back");
  paused_ = true;
}

void KmsOutput::resume() {
  log::info("kms: the seat is back: restoring the display");
  paused_ = false;
  needs_modeset_ = true;
  committer_->forget_tests();
  // Whatever another session did to the display, put our current frame
  // back with a full (blocking) modeset before going on.
  if (const Frame* cur = flips_.on_screen(); cur != nullptr && cur->fb) {
    if (auto r = committer_->modeset(*cur->fb); r) needs_modeset_ = false;
    else log::warn("kms: cannot restore the display: {}", r.error().message());
  }
  commit_queued();
}

// ------------------------------------------------------------ tear-down
KmsOutput::~KmsOutput() {
  cb_ = {};  // the server is going away: no more callbacks
  if (retry_timer_ != nullptr) wl_event_source_remove(retry_timer_);
  if (vblank_timer_ != nullptr) wl_event_source_remove(vblank_timer_);
  if (modeset_idle_ != nullptr) {
    // A legacy modeset is synchronous: that frame is on screen already.
    wl_event_source_remove(modeset_idle_);
    flips_.flipped();
  }
  if (drm_source_ != nullptr) wl_event_source_remove(drm_source_);
  // A framebuffer must outlive the commit that shows it: let the flip in
  // flight land before anything is removed.
  if (flips_.in_flight() != nullptr && !paused_) wait_for_flip(1000);
  if (!paused_ && touched_ && committer_) restore();
  flips_ = {};
  cache_.clear();
  if (copies_) copies_->clear();  // RmFB of each, then their dma-bufs close
  const CommitCounters tests = committer_ ? committer_->counters() : CommitCounters{};
  committer_.reset();  // and the mode blob
  dev_->set_session_handlers(nullptr, nullptr);
  log::info("kms: {} commits ({} TEST_ONLY rejected, {} EBUSY), {} page flips; frames {} direct, {} copied, {} "
            "discarded; framebuffers {} created, {} removed; GEM handles {} opened, {} closed",
            n_.commits, tests.tests_rejected, n_.ebusy, n_.flips, n_.direct, n_.copied, n_.discarded,
            fb_counters_->created, fb_counters_->removed, fb_counters_->gem_handles_opened,
            fb_counters_->gem_handles_closed);
}

void KmsOutput::wait_for_flip(int timeout_ms) {
  const uint64_t deadline = monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
  while (flips_.in_flight() != nullptr) {
    const uint64_t now = monotonic_ns();
    if (now >= deadline) {
      log::warn("kms: no page-flip event within {} ms at exit", timeout_ms);
      return;
    }
    pollfd p{drm_.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000ull) + 1) <= 0) continue;
    drm_.handle_events([this](const FlipEvent& e) {
      if (flips_.in_flight() != nullptr && e.user_data == serial_) {
        n_.flips++;
        flips_.flipped();
      }
    });
  }
}

// Puts the CRTC back the way we found it: the previous framebuffer and mode
// (a console, another compositor's last frame), or off if it was off.
void KmsOutput::restore() {
  if (saved_crtc_.mode_valid && saved_crtc_.fb_id != 0) {
    const uint32_t conn = pipe_.connector_id;
    const int err = drm_.set_crtc(pipe_.crtc_id, saved_crtc_.fb_id, saved_crtc_.x, saved_crtc_.y, {&conn, 1},
                                  &saved_crtc_.mode);
    if (err == 0) return;
    log::debug("kms: restoring framebuffer {} failed ({}); turning the CRTC off", saved_crtc_.fb_id, std::strerror(err));
  }
  if (auto r = committer_->disable(); !r)
    log::warn("kms: cannot turn CRTC {} off at exit: {}", pipe_.crtc_id, r.error().message());
}

std::vector<std::pair<std::string, uint64_t>> KmsOutput::counters() const {
  const CommitCounters& c = committer_->counters();
  return {
      {"kms_commits", n_.commits},
      {"kms_page_flips", n_.flips},
      {"kms_test_only", c.tests},
      {"kms_test_only_skipped", c.tests_skipped},
      {"kms_test_only_rejected", c.tests_rejected},
      {"kms_ebusy", n_.ebusy},
      {"kms_commit_failures", n_.commit_failures},
      {"kms_frames_direct", n_.direct},
      {"kms_frames_copied", n_.copied},
      {"kms_frames_discarded", n_.discarded},
      {"kms_blanked", n_.blanked},
      {"kms_fbs_created", fb_counters_->created},
      {"kms_fbs_removed", fb_counters_->removed},
      {"kms_fbs_live", fb_counters_->created - fb_counters_->removed},
      {"kms_gem_handles_opened", fb_counters_->gem_handles_opened},
      {"kms_gem_handles_closed", fb_counters_->gem_handles_closed},
      {"kms_dumb_buffers", copies_->size()},
      {"kms_fences_attached", n_.fences_attached},
      {"kms_fences_waited", n_.fences_waited},
      {"kms_out_fences", n_.out_fences},
  };
}

}  // namespace

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, std::shared_ptr<kms::Device> device,
                                           const KmsConfig& config) {
  auto out = std::make_unique<KmsOutput>(loop, std::move(device), config);
  if (auto r = out->init(); !r) return r.error();
  return std::unique_ptr<Output>(std::move(out));
}

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, const KmsConfig& config) {
  auto dev = kms::Device::open(config.device, loop, config.atomic);
  if (!dev) return dev.error();
  return create_kms(loop, std::shared_ptr<kms::Device>(std::move(dev.value())), config);
}

}  // namespace zc::output
