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
// The same wait serves the copy fallback (kms_output.cpp): before the CPU
// reads a client's dma-buf, DMA_BUF_IOCTL_SYNC(START|READ) would sleep in
// the kernel until the GPU finished writing it. So the copy, too, first asks
// the fence (poll, timeout 0) and, if it has not signalled, lets the event
// loop call back when it has; then the ioctl finds nothing to wait for.
//
// One buffer, several objects. A buffer's planes (a CCS or DCC compression
// metadata plane, a YUV buffer's chroma plane) usually live in one buffer
// object, which carries one set of fences. But linux-dmabuf lets a client
// send each plane as a different dma-buf, and these may be different objects
// (a video decoder's planes, a metadata surface allocated apart), each with
// its own fences. Exporting only the first plane's would let the display read
// the second while the GPU still writes it. So the fence is taken per
// distinct object (two fds name the same object when they are the same
// dma-buf file: fstat's st_dev/st_ino; the same GEM object exported again
// gives the same dma-buf) and the exports are merged (SYNC_IOC_MERGE) into
// the one sync_file a plane's IN_FENCE_FD takes, as wlroots does.
//
// One FrameFence lives in each frame between present() and the flip that
// shows it (or the copy that reads it); its descriptors close exactly once,
// with it (or earlier, when the frame is dropped). It is a value that moves
// with its frame (no allocation per frame); the event loop's watch on its fd
// is the owner's callback, so it stays valid however often the frame moves.
#pragma once

#include <wayland-server-core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "buffer/dmabuf.h"
#include "buffer/sync_file.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "output/output.h"

namespace zc::output::kms {

using output::FenceTimes;

// How a buffer's fences become one sync_file: the kernel's ioctls, or the
// unit tests' stand-ins (empty members: the kernel's).
struct FenceOps {
  buffer::SyncFileExporter exporter;
  buffer::SyncFileMerger merger;
};

class FrameFence {
 public:
  static constexpr size_t kMaxFds = buffer::kMaxPlanes;

  // The fences of every distinct buffer object behind `desc`'s planes,
  // exported and (two or more objects) merged into one sync_file. Without
  // the export ioctl (or if a merge fails) the objects' own fds (dups of the
  // dma-bufs, or the unmerged sync_files) stand in, to poll. An error only
  // if not even a dup was possible.
  static Result<FrameFence> take(const FenceOps& ops, const buffer::Dmabuf& desc, uint64_t now_ns);
  ~FrameFence();
  FrameFence(FrameFence&& o) noexcept;
  FrameFence& operator=(FrameFence&& o) noexcept;
  FrameFence(const FrameFence&) = delete;
  FrameFence& operator=(const FrameFence&) = delete;

  // One sync_file, that an atomic commit can take as IN_FENCE_FD (false:
  // fds to poll, which only the compositor can wait on).
  bool is_sync_file() const { return sync_file_ && n_fds_ == 1; }
  int fd() const { return fds_[0].get(); }
  // How many distinct buffer objects the buffer's planes were, and whether
  // their fences were merged into one sync_file.
  uint32_t objects() const { return objects_; }
  bool merged() const { return merged_; }

  // Has every fence signalled? Asks without waiting (poll, timeout 0). If
  // not, `on_readable(fd, mask, data)` is called from `loop` when the first
  // one still pending becomes readable, and the answer is no; the callback
  // must call readable() and then ask again (several objects: the next one
  // may still be pending). If the loop cannot watch (no memory) the answer
  // is yes: the kernel still honours implicit fences, late, never wrongly.
  bool wait_in_loop(wl_event_loop* loop, wl_event_loop_fd_func_t on_readable, void* data, uint64_t now_ns);
  // May the commit go out now? With `attach` (the committer takes
  // IN_FENCE_FD and this is one sync_file): yes, the kernel waits.
  // Otherwise wait_in_loop().
  bool ready_to_commit(bool attach, wl_event_loop* loop, wl_event_loop_fd_func_t on_readable, void* data,
                       uint64_t now_ns) {
    if (attach && is_sync_file()) return true;
    return wait_in_loop(loop, on_readable, data, now_ns);
  }
  // The event loop's watch fired: it is removed (the loop watches
  // level-triggered, it would fire again); ask wait_in_loop() again.
  void readable() { stop_watching(); }

  // The commit went out at `now_ns`; `attached`: with IN_FENCE_FD;
  // `out_fence`: what OUT_FENCE_PTR returned, if anything.
  void committed(bool attached, uint64_t now_ns, UniqueFd out_fence);
  // The frame is on screen at `flip_ns`: the figures, and every descriptor
  // closes (the kernel holds its own references).
  FenceTimes flipped(uint64_t flip_ns);

 private:
  FrameFence(std::array<UniqueFd, kMaxFds> fds, uint32_t n_fds, bool sync_file, uint32_t objects, bool merged,
             uint64_t now_ns)
      : fds_(std::move(fds)), n_fds_(n_fds), sync_file_(sync_file), objects_(objects), merged_(merged),
        taken_ns_(now_ns) {}
  void signalled(uint64_t now_ns);
  void stop_watching();

  std::array<UniqueFd, kMaxFds> fds_;  // [0, n_fds_): one sync_file, or one fd per object to poll
  uint32_t n_fds_ = 0;
  bool sync_file_ = false;    // fds_ are sync_files (else dma-bufs)
  uint32_t objects_ = 0;
  bool merged_ = false;
  uint64_t taken_ns_ = 0;     // when the output got the frame
  uint64_t signalled_ns_ = 0; // seen signalled (0 = not yet seen)
  uint64_t commit_ns_ = 0;
  bool attached_ = false;
  UniqueFd out_fence_;
  wl_event_source* watch_ = nullptr;  // on fds_[watched_], while someone waits
  uint32_t watched_ = 0;
};

}  // namespace zc::output::kms
