// Compositor-owned scanout buffers: where the copying transports (wl_shm,
// the socket baseline) put pixels, because the display cannot read a
// client's private memory. Allocated on first use and when the frame size
// changes — never per frame — and reused once the output released them.
#pragma once

#include <memory>
#include <vector>

#include "buffer/allocator.h"
#include "common/result.h"

namespace zc::server {

class ScanoutPool {
 public:
  explicit ScanoutPool(std::unique_ptr<buffer::Allocator> allocator) : allocator_(std::move(allocator)) {}

  // Index of a buffer of this size and format that the output does not hold.
  Result<int> acquire(uint32_t width, uint32_t height, uint32_t format);
  std::shared_ptr<buffer::Buffer> buffer(int slot) const { return slots_[static_cast<size_t>(slot)].buffer; }
  void set_busy(int slot, bool busy) { slots_[static_cast<size_t>(slot)].busy = busy; }
  size_t allocated() const { return slots_.size(); }
  // Frees every buffer (at shutdown; buffers the output still holds live on
  // until it lets go of them).
  void clear() { slots_.clear(); }

  // Copies `height` rows of `row_bytes` from src into the top-left corner of
  // the slot's buffer, bracketed for CPU access. Whatever an earlier, larger
  // frame left outside that corner is cleared (and only that: a small
  // window does not cost a clear of the whole buffer every frame). Returns
  // the bytes of the frame copied. This is a CPU copy: callers report it to
  // the ledger.
  Result<uint64_t> copy_into(int slot, const uint8_t* src, uint32_t src_stride, uint32_t row_bytes, uint32_t height);

 private:
  struct Slot {
    std::shared_ptr<buffer::Buffer> buffer;
    bool busy = false;
    // Extent of the pixels earlier copies wrote (new buffers are zeroed).
    uint32_t drawn_row_bytes = 0, drawn_rows = 0;
  };
  static constexpr size_t kMaxSlots = 4;  // one on screen, one queued, spares
  std::unique_ptr<buffer::Allocator> allocator_;
  std::vector<Slot> slots_;
};

}  // namespace zc::server
