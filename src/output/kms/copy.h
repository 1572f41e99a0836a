// The copy fallback: when the primary plane cannot read a client's buffer as
// it is, the CPU copies it into a buffer the plane can read.
//
// Those buffers are dumb buffers (kms/dumb.h) of the mode's size in
// XRGB8888, the one format every primary plane takes, each registered once
// as a framebuffer. The copy converts the pixel format where needed and
// turns a bottom-up (Y_INVERT) buffer the right way up. At most three are
// ever in use (one on screen, one in flight, one queued), made on first
// need and kept: allocating and mapping 33 MB per frame would cost more than
// the copy itself.
//
// A frame holds its target through a Lease: while any lease on it lives the
// target is busy; when the flip that replaced the frame completed the lease
// ends and the target is free again. No slot indexes to get wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "buffer/buffer.h"
#include "buffer/pattern.h"
#include "common/result.h"
#include "output/kms/device.h"
#include "output/kms/framebuffer.h"

namespace zc::output::kms {

// Formats copy_pixels() converts to XRGB8888.
std::span<const uint32_t> copy_formats();

// Copies a frame into an XRGB8888 scanout buffer, converting the pixel
// format where needed and reversing the rows of a bottom-up (y_invert)
// source. A smaller source lands in the top-left corner; what earlier copies
// left outside it (their extent: drawn_row_bytes x drawn_rows) is cleared by
// buffer::clear_stale. Returns the bytes written from the source, or nullopt
// if the format cannot be converted.
std::optional<uint64_t> copy_pixels(const buffer::ConstPixelView& src, bool y_invert, const buffer::PixelView& dst,
                                    uint32_t& drawn_row_bytes, uint32_t& drawn_rows, bool& converted);

class CopyPool {
 public:
  struct Target {
    std::shared_ptr<buffer::Buffer> buffer;
    std::shared_ptr<Framebuffer> fb;
    bool busy = false;
    // Extent of the non-black pixels, from the top-left corner (dumb
    // buffers start zeroed: 0x0).
    uint32_t drawn_row_bytes = 0, drawn_rows = 0;
  };
  // A target in use; frees it when destroyed. Move-only.
  class Lease {
   public:
    Lease() = default;
    explicit Lease(std::shared_ptr<Target> t) : t_(std::move(t)) { t_->busy = true; }
    Lease(Lease&& o) noexcept : t_(std::move(o.t_)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        reset();
        t_ = std::move(o.t_);
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { reset(); }
    void reset() {
      if (t_) t_->busy = false;
      t_.reset();
    }
    explicit operator bool() const { return t_ != nullptr; }
    Target* operator->() const { return t_.get(); }

   private:
    std::shared_ptr<Target> t_;
  };

  static constexpr size_t kMax = 3;  // on screen, in flight, queued

  CopyPool(std::shared_ptr<Device> device, uint32_t width, uint32_t height,
           std::shared_ptr<FramebufferCounters> counters)
      : dev_(std::move(device)), width_(width), height_(height), counters_(std::move(counters)) {}

  // A free target (allocated on first need, up to kMax).
  Result<Lease> acquire();
  // `src` copied (converted, turned the right way up) into a free target.
  // `bytes`: how much the CPU copied; `converted`: the pixels were rewritten,
  // not just moved.
  Result<Lease> copy(buffer::Buffer& src, uint64_t& bytes, bool& converted);
  // A free target cleared to black (what the screen shows after a withdraw).
  Result<Lease> blank();

  size_t size() const { return targets_.size(); }
  void clear() { targets_.clear(); }

 private:
  std::shared_ptr<Device> dev_;
  uint32_t width_, height_;
  std::shared_ptr<FramebufferCounters> counters_;
  std::vector<std::shared_ptr<Target>> targets_;
};

}  // namespace zc::output::kms
