#include "output/kms/fence.h"

#include <fcntl.h>

#include <cerrno>
#include <utility>

#include "common/clock.h"
#include "stats/trace.h"

namespace zc::output::kms {

Result<FrameFence> FrameFence::take(const buffer::SyncFileExporter& exporter, int dmabuf_fd, uint64_t now_ns) {
  auto s = exporter(dmabuf_fd);
  if (s) {
    ZC_TRACE("render fence: the dma-buf's pending GPU writes exported as a sync_file (DMA_BUF_IOCTL_EXPORT_SYNC_FILE)", 0);
    return FrameFence(std::move(s.value()), true, now_ns);
  }
  ZC_TRACE("render fence: no export ioctl (Linux < 6.0): the dma-buf itself will be polled for its implicit fences", 0);
  // ENOTTY (no such ioctl: Linux < 6.0, or not a dma-buf) or EINVAL (an
  // older kernel's check of the flags): poll the dma-buf itself. Its POLLIN
  // answers the same question, "have the writers finished?", for now only.
  UniqueFd self{::fcntl(dmabuf_fd, F_DUPFD_CLOEXEC, 0)};
  if (!self) return Error::from_errno("cannot duplicate the dma-buf to wait for its fence");
  return FrameFence(std::move(self), false, now_ns);
}

FrameFence::FrameFence(FrameFence&& o) noexcept
    : fd_(std::move(o.fd_)),
      sync_file_(o.sync_file_),
      taken_ns_(o.taken_ns_),
      signalled_ns_(o.signalled_ns_),
      commit_ns_(o.commit_ns_),
      attached_(o.attached_),
      out_fence_(std::move(o.out_fence_)),
      // The watch is on the fd (which moved with us) and calls the owner
      // back, not this object: it stays valid as it is.
      watch_(std::exchange(o.watch_, nullptr)) {}

FrameFence& FrameFence::operator=(FrameFence&& o) noexcept {
  if (this != &o) {
    stop_watching();
    fd_ = std::move(o.fd_);
    sync_file_ = o.sync_file_;
    taken_ns_ = o.taken_ns_;
    signalled_ns_ = o.signalled_ns_;
    commit_ns_ = o.commit_ns_;
    attached_ = o.attached_;
    out_fence_ = std::move(o.out_fence_);
    watch_ = std::exchange(o.watch_, nullptr);
  }
  return *this;
}

FrameFence::~FrameFence() { stop_watching(); }

void FrameFence::stop_watching() {
  if (watch_ != nullptr) wl_event_source_remove(watch_);
  watch_ = nullptr;
}

bool FrameFence::ready_to_commit(bool attach, wl_event_loop* loop, wl_event_loop_fd_func_t on_readable, void* data,
                                 uint64_t now_ns) {
  // The display will wait: nothing to do here.
  if (attach && sync_file_) return true;
  if (signalled_ns_ != 0) return true;
  if (buffer::fence_signalled(fd_.get())) {
    signalled(now_ns);
    return true;
  }
  // Not yet: let the event loop tell us. POLLIN on a sync_file (or a
  // dma-buf) is exactly "signalled"; nothing blocks meanwhile.
  if (watch_ == nullptr) {
    ZC_TRACE("render fence not signalled yet: the commit waits, the event loop polls the fence (nothing blocks)", 0);
    watch_ = wl_event_loop_add_fd(loop, fd_.get(), WL_EVENT_READABLE, on_readable, data);
    // Cannot watch (no memory): commit anyway. The kernel still honours the
    // buffer's implicit fences, at the cost of a late flip.
    if (watch_ == nullptr) return true;
  }
  return false;
}

void FrameFence::signalled(uint64_t now_ns) {
  // The kernel's own timestamp when the fd can say (then often before we
  // got the frame: the GPU was done already); else when it was seen.
  signalled_ns_ = buffer::sync_file_signal_time(fd_.get()).value_or(now_ns);
  stop_watching();  // level-triggered: it would fire again
}

void FrameFence::committed(bool attached, uint64_t now_ns, UniqueFd out_fence) {
  attached_ = attached;
  commit_ns_ = now_ns;
  if (attached)
    ZC_TRACE(out_fence ? "committed with IN_FENCE_FD on the plane (the display waits for the GPU) and OUT_FENCE_PTR on the CRTC"
                       : "committed with IN_FENCE_FD on the plane (the display waits for the GPU)",
             0);
  else
    ZC_TRACE("committed once the render fence had signalled (waited in the event loop)", 0);
  out_fence_ = std::move(out_fence);
  stop_watching();
}

FenceTimes FrameFence::flipped(uint64_t flip_ns) {
  FenceTimes t;
  t.attached = attached_;
  uint64_t sig = signalled_ns_;
  if (sig == 0) {
    // Attached: the display waited for it, so it had signalled by the flip.
    // The kernel's timestamp says when exactly; without one (not a real
    // sync_file), the flip bounds it.
    sig = buffer::sync_file_signal_time(fd_.get()).value_or(flip_ns);
  }
  t.signal_after_ns = sig > commit_ns_ ? sig - commit_ns_ : 0;
  if (!attached_ && sig > taken_ns_) t.wait_ns = (sig < commit_ns_ ? sig : commit_ns_) - taken_ns_;
  t.flip_after_ns = flip_ns > commit_ns_ ? flip_ns - commit_ns_ : 0;
  t.out_fence = out_fence_ && buffer::fence_signalled(out_fence_.get());
  // Done with them: the kernel took its own references at the commit.
  stop_watching();
  fd_.reset();
  out_fence_.reset();
  return t;
}

}  // namespace zc::output::kms
