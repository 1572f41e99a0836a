// kms::FrameFence: who waits for the GPU before the display reads a
// client's buffer (docs/fences.md).
//
// A client's dma-buf may still be being rendered when the compositor gets
// it: wl_surface.commit comes right after the GPU commands were queued. The
// display must not scan it out before the GPU is done, and the compositor
// must not block its event loop waiting. Two ways, chosen per frame:
//
//   attached  the buffer's fence, exported as a sync_file
//             (DMA_BUF_IOCTL_EXPORT_SYNC_FILE), goes into the atomic commit
//             as the plane's IN_FENCE_FD: the kernel holds the flip until
//             the fence signals. The compositor commits at once.
//   waited    the legacy API has no IN_FENCE_FD, and kernels before 6.0
//             cannot export the fence: the output polls the fence (the
//             sync_file, or the dma-buf itself, whose POLLIN means the same)
//             from its event loop and commits once it is readable.
//
// Either way the CRTC's OUT_FENCE_PTR (atomic) hands back a second
// sync_file that signals when the new frame is on screen.
//
// One FrameFence lives in each frame between present() and the flip that
// shows it; its descriptors close exactly once, with it (or earlier, when
// the frame is dropped). It is a value that moves with its frame (no
// allocation per frame); the event loop's watch on its fd is the owner's
// callback, so it stays valid however often the frame moves.
//
// A buffer's planes are expected in one buffer object (what GBM makes, CCS
// and DCC metadata included), so the first plane's dma-buf carries every
// fence. A buffer whose planes are separate objects (a video decoder's YUV)
// would need one export per object, merged (SYNC_IOC_MERGE), as wlroots
// does: not done here.
#pragma once

#include <wayland-server-core.h>

#include <cstdint>

#include "buffer/sync_file.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "output/output.h"

namespace zc::output::kms {

using output::FenceTimes;

class FrameFence {
 public:
  // The fence of `dmabuf_fd` (the buffer's first plane: the planes of one
  // buffer object share its reservation, and with it its fences). Without
  // the export ioctl, a dup of the dma-buf itself stands in for it, to poll.
  // An error only if not even a dup was possible.
  static Result<FrameFence> take(const buffer::SyncFileExporter& exporter, int dmabuf_fd, uint64_t now_ns);
  ~FrameFence();
  FrameFence(FrameFence&& o) noexcept;
  FrameFence& operator=(FrameFence&& o) noexcept;
  FrameFence(const FrameFence&) = delete;
  FrameFence& operator=(const FrameFence&) = delete;

  // A sync_file, that an atomic commit can take as IN_FENCE_FD (false: a
  // dma-buf to poll, which only the compositor can wait on).
  bool is_sync_file() const { return sync_file_; }
  int fd() const { return fd_.get(); }

  // May the commit go out now? With `attach` (the committer takes
  // IN_FENCE_FD and this is a sync_file): yes, the kernel waits. Otherwise
  // yes once the fence has signalled; if not yet, `on_readable(fd, mask,
  // data)` is called from `loop` when it does, and the answer is no. The
  // callback must call signalled() (or drop this fence) before asking again.
  bool ready_to_commit(bool attach, wl_event_loop* loop, wl_event_loop_fd_func_t on_readable, void* data,
                       uint64_t now_ns);
  // The event loop saw the fence readable at `now_ns`: it has signalled.
  void signalled(uint64_t now_ns);

  // The commit went out at `now_ns`; `attached`: with IN_FENCE_FD;
  // `out_fence`: what OUT_FENCE_PTR returned, if anything.
  void committed(bool attached, uint64_t now_ns, UniqueFd out_fence);
  // The frame is on screen at `flip_ns`: the figures, and every descriptor
  // closes (the kernel holds its own references).
  FenceTimes flipped(uint64_t flip_ns);

 private:
  FrameFence(UniqueFd fd, bool sync_file, uint64_t now_ns) : fd_(std::move(fd)), sync_file_(sync_file), taken_ns_(now_ns) {}
  void stop_watching();

  UniqueFd fd_;
  bool sync_file_ = false;
  uint64_t taken_ns_ = 0;     // when the output got the frame
  uint64_t signalled_ns_ = 0; // seen signalled (0 = not yet seen)
  uint64_t commit_ns_ = 0;
  bool attached_ = false;
  UniqueFd out_fence_;
  wl_event_source* watch_ = nullptr;  // on fd_, while the commit waits
};

}  // namespace zc::output::kms
