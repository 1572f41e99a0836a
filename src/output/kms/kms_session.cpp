// The KMS output around the frame path (kms_output.cpp): choosing the
// pipeline at start, giving the display up and taking it back on a VT
// switch, putting it back the way it was found at exit, and the run's
// counters.
#include <fmt/core.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "output/kms/kms_output_impl.h"

namespace zc::output {
namespace kms {

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
  if (!cfg_.merge_fences) cfg_.merge_fences = buffer::merge_sync_files;
  fence_ops_ = FenceOps{cfg_.export_fence, cfg_.merge_fences};
  formats_ = kms::scanout_formats(drm_, pipe_);
  importable_ = kms::importable_formats(formats_, pipe_.plane_formats, caps.addfb2_modifiers);

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
  fresh_dispatch();
  commit_queued();
}

// ------------------------------------------------------------ tear-down
KmsOutput::~KmsOutput() { close(); }

void KmsOutput::close() {
  if (std::exchange(closed_, true)) return;
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
  // The scanout planner's buffers (the copy targets among them) lose their
  // framebuffers with the cache above (RmFB); their memory goes when the
  // planner does, after this destructor.
  const CommitCounters tests = committer_ ? committer_->counters() : CommitCounters{};
  closed_commits_ = tests;  // counters() after close()
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
  const CommitCounters& c = committer_ ? committer_->counters() : closed_commits_;
  std::vector<std::pair<std::string, uint64_t>> out = {
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
      {"kms_frames_refused", n_.refused},
      {"kms_blanked", n_.blanked},
      {"kms_fbs_created", fb_counters_->created},
      {"kms_fbs_removed", fb_counters_->removed},
      {"kms_fbs_live", fb_counters_->created - fb_counters_->removed},
      {"kms_gem_handles_opened", fb_counters_->gem_handles_opened},
      {"kms_gem_handles_closed", fb_counters_->gem_handles_closed},
      {"kms_fences_attached", n_.fences_attached},
      {"kms_fences_waited", n_.fences_waited},
      {"kms_fences_merged", n_.fences_merged},
      {"kms_copies_waited", n_.copies_waited},
      {"kms_out_fences", n_.out_fences},
  };
  if (cfg_.verify)
    for (auto& kv : witness_.counters()) out.push_back(std::move(kv));
  return out;
}

}  // namespace kms

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, std::shared_ptr<kms::Device> device,
                                           const KmsConfig& config) {
  auto out = std::make_unique<kms::KmsOutput>(loop, std::move(device), config);
  if (auto r = out->init(); !r) return r.error();
  return std::unique_ptr<Output>(std::move(out));
}

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, const KmsConfig& config) {
  auto dev = kms::Device::open(config.device, loop, config.atomic);
  if (!dev) return dev.error();
  return create_kms(loop, std::shared_ptr<kms::Device>(std::move(dev.value())), config);
}

}  // namespace zc::output
