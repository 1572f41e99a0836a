// The scanout planner: the one owner of the buffers the compositor itself
// puts on screen.
//
// A display engine can only scan out memory it can reach (a DMA-BUF, a KMS
// dumb buffer). When a frame arrives in memory it cannot read — a wl_shm
// pool, the socket baseline's staging buffer — the CPU copies the frame into
// such a buffer first. Those buffers are big (a 4K frame is 33 MB) and slow
// to create (a fresh mapping faults in page by page), so they are allocated
// rarely and reused; and they are shared with the display, so a buffer may
// only be written again once the display has stopped reading it.
//
// That rule is what a lease expresses. `acquire()` hands out a ScanoutLease
// on a buffer nobody else holds; whoever shows the frame keeps the lease
// while the display reads the buffer (in the compositor: until the output
// reports the frame released or discarded) and then lets the lease go, which
// gives the buffer back. No integer slot index names a buffer, so freeing
// other buffers can never make a lease point at the wrong one.
//
// Memory goes back too: when a user asks for another size or format, its
// idle buffers of the old one are freed at once, and release_idle() frees
// every idle buffer (the compositor calls it when a surface unmaps, so a
// client that leaves does not leave its buffers behind).
//
// Two users lease from the same planner, and each remembers only its own
// last shape: the compositor's copying transports (a wl_shm or socket frame
// copied as it is) and the output's own copy fallback (KMS converting a
// frame the plane cannot read into XRGB8888 of the mode's size). A 24-bit
// baseline frame on KMS needs both every frame, one RGB888 and one
// XRGB8888: with a single "last shape asked for", each would free the
// other's idle buffers and every frame would allocate (and fault in) 33 MB.
//
// One planner per display (the Output makes it: output.h), so the cap below
// holds for everything the compositor puts on screen from its own memory.
//
// Limits (what one client can make the compositor allocate here):
//   - one buffer is at most kMaxScanoutBufferBytes (7680x4320 at 4 bytes per
//     pixel, 8K UHD: 132,710,400 bytes); a bigger frame is refused (EFBIG);
//   - at most kMaxScanoutBuffers buffers exist at once (one on screen, one
//     queued, one a KMS flip may still read, a spare); when all are leased the
//     frame is refused (EBUSY).
// So the planner never holds more than 4 x 132.7 MB, whatever clients send,
// and the frames of one client (one shown, one queued) at most 2 x 132.7 MB.
//
// It lives in src/buffer (below src/output and src/server) so that both the
// compositor's copying transports and an output's own copy fallback can take
// their buffers from the same planner.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "buffer/allocator.h"
#include "common/result.h"

namespace zc::buffer {

constexpr uint64_t kMaxScanoutBufferBytes = uint64_t{7680} * 4320 * 4;
constexpr size_t kMaxScanoutBuffers = 4;

// Who asks for a buffer (see above).
enum class ScanoutUser : uint8_t {
  compositor,  // the copying transports (wl_shm, the socket baseline)
  output,      // the output's own copy fallback (KMS pixel conversion)
};
constexpr size_t kScanoutUsers = 2;

struct ScanoutLimits {
  uint64_t max_buffer_bytes = kMaxScanoutBufferBytes;
  size_t max_buffers = kMaxScanoutBuffers;
};

namespace detail {
struct ScanoutSlot;
struct ScanoutState;
}  // namespace detail

// The right to write a scanout buffer and hand it to the display. Move-only;
// the buffer goes back to its planner when the lease ends (destructor or
// reset()). If the planner is gone by then, the buffer is simply freed once
// its last user (e.g. the output) lets go of it.
class ScanoutLease {
 public:
  ScanoutLease() = default;
  ScanoutLease(ScanoutLease&& other) noexcept = default;
  ScanoutLease& operator=(ScanoutLease&& other) noexcept;
  ScanoutLease(const ScanoutLease&) = delete;
  ScanoutLease& operator=(const ScanoutLease&) = delete;
  ~ScanoutLease() { reset(); }

  explicit operator bool() const { return slot_ != nullptr; }
  Buffer& buffer() const;
  // A reference the display can hold while it reads the buffer.
  std::shared_ptr<Buffer> shared_buffer() const;

  // Copies `height` rows of `row_bytes` from src into the top-left corner of
  // the buffer, bracketed for CPU access. Whatever an earlier, larger frame
  // left outside that corner is cleared (and only that: a small window does
  // not cost a clear of the whole buffer every frame). Returns the bytes of
  // the frame copied. This is a CPU copy: callers report it to the ledger.
  Result<uint64_t> copy_into(const uint8_t* src, uint32_t src_stride, uint32_t row_bytes, uint32_t height);

  // The top-left corner earlier frames drew into (a new buffer is black:
  // 0 x 0). A caller that writes the pixels itself (the KMS output converts
  // formats while copying) clears what its frame does not cover with
  // buffer::clear_stale, which also updates this extent.
  struct Drawn {
    uint32_t row_bytes = 0, rows = 0;
  };
  Drawn& drawn() const;

  // Ends the lease now: the buffer may be handed out again.
  void reset();

 private:
  friend class ScanoutPlanner;
  ScanoutLease(std::weak_ptr<detail::ScanoutState> state, std::shared_ptr<detail::ScanoutSlot> slot)
      : state_(std::move(state)), slot_(std::move(slot)) {}
  std::weak_ptr<detail::ScanoutState> state_;
  std::shared_ptr<detail::ScanoutSlot> slot_;
};

class ScanoutPlanner {
 public:
  explicit ScanoutPlanner(std::unique_ptr<Allocator> allocator, ScanoutLimits limits = {});
  ~ScanoutPlanner();
  ScanoutPlanner(const ScanoutPlanner&) = delete;
  ScanoutPlanner& operator=(const ScanoutPlanner&) = delete;

  // A lease on a buffer of this size and format that nobody holds: an idle
  // one, or a new one. Errors: EFBIG (over max_buffer_bytes), EBUSY (every
  // buffer leased, by either user), EINVAL (unknown format), or the
  // allocator's error.
  Result<ScanoutLease> acquire(uint32_t width, uint32_t height, uint32_t format,
                               ScanoutUser user = ScanoutUser::compositor);

  // Frees every buffer no lease holds.
  void release_idle();

  struct Stats {
    uint64_t buffers = 0;          // allocated now (leased or idle)
    uint64_t leased = 0;           // of which leased now
    uint64_t bytes = 0;            // bytes of the buffers allocated now
    uint64_t peak_bytes = 0;       // highest `bytes` ever
    uint64_t allocations = 0;      // buffers allocated in total
    uint64_t frees = 0;            // buffers given back in total
    uint64_t refused_too_large = 0;  // acquire() over max_buffer_bytes
    uint64_t refused_busy = 0;       // acquire() with every buffer leased
  };
  Stats stats() const;
  // stats() as (name, value) pairs, for the compositor's --stats JSON.
  std::vector<std::pair<const char*, uint64_t>> counters() const;

 private:
  std::shared_ptr<detail::ScanoutState> state_;
};

}  // namespace zc::buffer
