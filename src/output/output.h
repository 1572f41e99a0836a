// Output: the display at the end of the pipeline.
//
// The compositor hands an Output the buffer a surface committed; the output
// shows it at its next refresh (a page flip on KMS, a virtual vblank when
// headless) and reports back:
//   presented(tag)  the buffer is on screen, with the time and sequence
//   discarded(tag)  it was replaced before it reached the screen
//   released(tag)   the display stopped reading it (a later frame replaced
//                   it on screen): only now may the client reuse the buffer
//   vblank()        a refresh happened: time to send frame callbacks
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "buffer/allocator.h"
#include "buffer/buffer.h"
#include "buffer/scanout_planner.h"
#include "common/result.h"
#include "output/scanout_reason.h"

namespace zc::output {

struct Mode {
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t refresh_mhz = 0;  // 0 = unpaced (no fixed refresh)
};

// A frame's render fence on its way to the screen (kms/fence.h,
// docs/fences.md): KMS, dma-bufs scanned out directly.
struct FenceTimes {
  bool attached = false;         // IN_FENCE_FD (true) or waited for in the event loop (false)
  uint64_t signal_after_ns = 0;  // commit -> render fence signalled (0: before the commit)
  uint64_t wait_ns = 0;          // how long the commit was held back waiting for it
  uint64_t flip_after_ns = 0;    // commit -> on screen
  bool out_fence = false;        // OUT_FENCE_PTR returned a sync_file, signalled by the flip
};

// The copy fallback's wait for a dma-buf's render fence (kms/fence.h): the
// CPU reads the buffer only once the GPU has finished writing it, and waits
// for that in the event loop, not in DMA_BUF_IOCTL_SYNC.
struct CopyFenceWait {
  bool waited = false;   // the fence had not signalled: the copy was deferred
  uint64_t wait_ns = 0;  // from when the copy was wanted until it ran
};

// How --verify read the shown buffer (output/read_back.h): through a CPU
// mapping of the buffer itself, or through the driver (gbm_bo_map), which
// detiles and fetches a GPU's memory. A string literal for the ledger.
enum class VerifyRead : uint8_t { none, mmap, gbm_map };
inline const char* verify_read_name(VerifyRead r) {
  return r == VerifyRead::mmap ? "mmap" : r == VerifyRead::gbm_map ? "gbm_map" : nullptr;
}

struct Presented {
  uint64_t time_ns = 0;       // CLOCK_MONOTONIC
  uint64_t seq = 0;           // vblank / flip counter (MSC)
  uint32_t refresh_ns = 0;    // 0 when unpaced
  bool vsync = false;         // shown at a refresh boundary
  bool hw_clock = false;      // timestamp from the display hardware
  bool hw_completion = false; // completion signalled by the hardware
  bool zero_copy = false;     // the display read the client's own buffer
  std::optional<uint64_t> checksum;        // --verify: checksum of what was shown
  std::optional<uint32_t> decoded_frame;   // --verify: frame number read from the pixels
  VerifyRead verify_read = VerifyRead::none;  // --verify: how the pixels were read
  // How the buffer reached the display: direct (the plane reads the buffer
  // handed to present()) or a copy (the output had to copy it into a buffer
  // of its own first), with every reason the direct path was blocked.
  bool direct = true;
  ScanoutReasons reasons;
  std::optional<FenceTimes> fence;  // KMS, direct dma-buf frames
  std::optional<CopyFenceWait> copy_fence;  // KMS, dma-buf frames the output copied
};

struct Callbacks {
  std::function<void(uint64_t tag, const Presented&)> presented;
  std::function<void(uint64_t tag)> discarded;
  std::function<void(uint64_t tag)> released;
  std::function<void(uint64_t time_ns)> vblank;
  // The output made a CPU copy of the frame behind `tag` (a fallback when
  // direct scanout is impossible); reported to the ledger where it happens.
  std::function<void(uint64_t tag, uint64_t bytes, const char* where)> copied;
};

class Output {
 public:
  virtual ~Output() = default;
  virtual std::string name() const = 0;  // "headless", "kms"
  // One line for reports: the device, driver, connector and mode behind it.
  virtual std::string description() const { return name(); }
  virtual Mode mode() const = 0;
  // The DRM device behind this output (for linux-dmabuf feedback), if any.
  virtual std::optional<dev_t> device() const { return std::nullopt; }
  // (format, modifier) pairs the output can scan out directly.
  virtual std::vector<std::pair<uint32_t, uint64_t>> scanout_formats() const = 0;
  // Every pair the output can show at all: the scanout formats, plus those
  // it can only show by copying (converting) into a buffer of its own. The
  // compositor accepts these from clients; it tells clients which ones avoid
  // the copy (linux-dmabuf feedback's scanout tranche).
  virtual std::vector<std::pair<uint32_t, uint64_t>> importable_formats() const { return scanout_formats(); }

  // Shows `buffer` at the next refresh. `client_owned` says whether it is the
  // client's own buffer (zero-copy) or a compositor copy. A frame queued
  // earlier and not yet shown is replaced and reported discarded.
  virtual void present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) = 0;
  // Asks for a vblank callback even if nothing new is shown (frame callbacks wait on it).
  virtual void schedule_vblank() = 0;
  // The surface behind `tag` is gone: stop showing its buffer (the screen goes
  // blank, as when a KMS plane is disabled). Reports released / discarded.
  virtual void withdraw(uint64_t tag) = 0;

  // Allocator for compositor-owned scanout buffers (what the copying
  // transports copy into). Headless: memfds; KMS: dumb buffers.
  virtual Result<std::unique_ptr<buffer::Allocator>> scanout_allocator() { return buffer::create_memfd_allocator(); }
  // The one owner of compositor-owned scanout buffers, made from
  // scanout_allocator() on first use and living as long as the output. The
  // compositor's copying transports and the output's own copy fallback both
  // lease from it, so together they never hold more than its cap.
  Result<buffer::ScanoutPlanner*> scanout_planner() {
    if (!planner_) {
      auto alloc = scanout_allocator();
      if (!alloc) return alloc.error();
      planner_ = std::make_unique<buffer::ScanoutPlanner>(std::move(alloc.value()));
    }
    return planner_.get();
  }
  // Whether compositor-owned scanout buffers must cover the whole mode. A
  // KMS primary plane shows one full-screen buffer, so a smaller window is
  // copied into the top-left of a mode-sized buffer (one copy, not a copy
  // at window size and then another at mode size). Headless shows any size.
  virtual bool scanout_covers_mode() const { return false; }

  // Counters for the run's record, e.g. KMS framebuffers created/removed,
  // commits, TEST_ONLY rejections, copies. Empty when the output keeps none.
  virtual std::vector<std::pair<std::string, uint64_t>> counters() const { return {}; }

  // Gives the display up as the destructor would (KMS: waits for the flip in
  // flight, puts back what was shown before, removes every framebuffer), but
  // keeps the object, so that counters() read afterwards cover the teardown
  // too: a run's record must say its framebuffers were removed, not that
  // three were still live a moment before exit. After close() only
  // counters() and the destructor may be called; a second close() does
  // nothing, and the destructor does not repeat it.
  virtual void close() {}

  void set_callbacks(Callbacks cb) { cb_ = std::move(cb); }

 protected:
  Callbacks cb_;
  std::unique_ptr<buffer::ScanoutPlanner> planner_;
};

}  // namespace zc::output
