// The KMS output's state, shared by the two files that implement it:
//   kms_output.cpp   the path of a frame: present -> direct or copy ->
//                    commit -> flip event -> release (read it first)
//   kms_session.cpp  everything around that path: set-up, VT switches
//                    (pause/resume), putting the display back at exit, and
//                    the counters of the run
// Not a public header: the rest of the program sees only kms_output.h.
#pragma once

#include <wayland-server-core.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "output/kms/commit.h"
#include "output/kms/copy.h"
#include "output/kms/device.h"
#include "output/kms/dumb.h"
#include "output/kms/fence.h"
#include "output/kms/flip_queue.h"
#include "output/kms/framebuffer.h"
#include "output/kms/kms_output.h"
#include "output/kms/pipeline.h"
#include "output/read_back.h"

namespace zc::output::kms {

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
  void close() override;  // the tear-down the destructor does, counters kept

 private:
  // What the primary plane shows (or is about to): a framebuffer, and the
  // buffers it must keep alive while the display may read them.
  struct Frame {
    bool has_tag = false;  // false: a blank frame (after a withdraw)
    uint64_t tag = 0;
    std::shared_ptr<buffer::Buffer> buffer;  // what present() received
    std::shared_ptr<buffer::Buffer> shown;   // what the plane reads: `buffer`, or a copy of it
    std::shared_ptr<Framebuffer> fb;
    buffer::ScanoutLease copy;  // the copy target, when copied (from the planner)
    bool client_owned = false;
    bool direct = false;
    ScanoutReasons reasons;  // why it was copied
    bool withdrawn = false;  // its surface is gone: blank the screen after it
    // The dma-buf's render fence (fence.h): a direct frame's, until its
    // flip; a copied frame's, until the copy may read the buffer.
    std::optional<FrameFence> fence;
    // Copied frames: the copy waits in the event loop for `fence` (it has
    // not run yet, and `fb` is empty), since when, and what it came to.
    bool copy_pending = false;
    uint64_t copy_wanted_ns = 0;
    std::optional<output::CopyFenceWait> copy_wait;
  };
  struct Cached {
    std::weak_ptr<buffer::Buffer> buffer;  // expired = the wl_buffer is gone
    std::shared_ptr<Framebuffer> fb;
    std::string error;                     // why it could not be imported
    // --verify: the buffer imported into its driver (a gbm_bo), once, the
    // first time a frame of it was shown directly; it goes with the entry.
    std::unique_ptr<DriverImage> verify_image;
    bool verify_import_tried = false;
  };

  const drmModeModeInfo& mode_() const { return pipe_.mode; }
  ScanoutReasons direct_blockers(const buffer::Buffer& b) const;
  Result<std::shared_ptr<Framebuffer>> framebuffer_for(const std::shared_ptr<buffer::Buffer>& b);
  Result<bool> copy(Frame& f, ScanoutReasons reasons);
  Result<bool> copy_when_signalled(Frame& f);
  void unshowable(Frame f, const Error& e);
  Result<void> lease_copy_target(Frame& f);
  void discard(Frame f);
  void commit_queued();
  Result<void> commit(Frame& f);
  void on_flip(uint64_t time_ns, uint32_t sequence);
  // CLOCK_MONOTONIC for this dispatch of the event loop, read at most once:
  // taking a frame's fence, the check that it may be committed and the
  // commit happen in one dispatch, microseconds apart, and on a machine whose
  // clocksource is not the TSC (hpet here) each clock_gettime is a syscall.
  // Every entry point from the loop (present, the flip event, a fence or
  // retry timer firing) calls fresh_dispatch() first.
  uint64_t now();
  void fresh_dispatch() { now_ns_ = 0; }
  uint64_t now_ns_ = 0;
  bool queue_blank();
  void sweep();
  DriverImage* verify_image(const Frame& f);
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
  FenceOps fence_ops_;  // how a buffer's fences become a sync_file (the kernel's, or a test's)

  bool needs_modeset_ = true;  // first commit, and after the seat comes back
  bool paused_ = false;
  bool warned_unshowable_ = false;  // a frame that could not be shown was logged
  bool warned_verify_import_ = false;  // --verify: a failed driver import was logged
  bool touched_ = false;       // we committed something: restore at exit
  uint64_t serial_ = 0;        // user_data of the commit in flight
  FlipQueue<Frame> flips_;
  // --verify's driver (before cache_: the images in it go first).
  std::unique_ptr<DriverReader> verify_reader_;
  bool verify_reader_tried_ = false;
  std::unordered_map<const buffer::Buffer*, Cached> cache_;

  wl_event_source* drm_source_ = nullptr;
  wl_event_source* retry_timer_ = nullptr;
  wl_event_source* vblank_timer_ = nullptr;
  wl_event_source* modeset_idle_ = nullptr;

  LeavingWitness witness_;  // --verify: the last look at each frame as it leaves the screen
  bool closed_ = false;              // close() ran: the display is given up
  CommitCounters closed_commits_;    // the committer's counters, kept when close() freed it

  // Shared with the framebuffers, which may outlive this output.
  std::shared_ptr<FramebufferCounters> fb_counters_ = std::make_shared<FramebufferCounters>();
  struct {
    uint64_t commits = 0, flips = 0, ebusy = 0, commit_failures = 0;
    uint64_t direct = 0, copied = 0, discarded = 0, blanked = 0;
    uint64_t refused = 0;  // could not be copied either (modifier_not_linear)
    uint64_t fences_attached = 0, fences_waited = 0, out_fences = 0;  // render fences (fence.h)
    uint64_t fences_merged = 0;  // fences of several buffer objects merged into one sync_file
    uint64_t copies_waited = 0;  // copies deferred until the buffer's fence signalled
  } n_;
};

}  // namespace zc::output::kms
