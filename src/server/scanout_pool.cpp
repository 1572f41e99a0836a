#include "server/scanout_pool.h"

#include <fmt/core.h>

#include <cstring>

namespace zc::server {

Result<int> ScanoutPool::acquire(uint32_t width, uint32_t height, uint32_t format) {
  // Buffers of another size are useless now: drop the idle ones.
  for (size_t i = 0; i < slots_.size();) {
    const auto& b = *slots_[i].buffer;
    if (!slots_[i].busy && (b.width() != width || b.height() != height || b.format() != format))
      slots_.erase(slots_.begin() + static_cast<std::ptrdiff_t>(i));
    else
      ++i;
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& b = *slots_[i].buffer;
    if (!slots_[i].busy && b.width() == width && b.height() == height && b.format() == format)
      return static_cast<int>(i);
  }
  if (slots_.size() >= kMaxSlots) return Error{EBUSY, "all scanout buffers are in use"};
  auto b = allocator_->allocate(width, height, format, {});
  if (!b) return b.error();
  slots_.push_back(Slot{std::shared_ptr<buffer::Buffer>(std::move(b.value())), false});
  return static_cast<int>(slots_.size() - 1);
}

Result<uint64_t> ScanoutPool::copy_into(int index, const uint8_t* src, uint32_t src_stride, uint32_t row_bytes,
                                        uint32_t height) {
  Slot& slot = slots_[static_cast<size_t>(index)];
  buffer::Buffer& dst = *slot.buffer;
  auto px = dst.map(true);
  if (!px) return px.error();
  if (row_bytes > dst.stride() || height > dst.height())
    return Error{EINVAL, fmt::format("frame rows of {} bytes do not fit the scanout buffer", row_bytes)};
  dst.begin_cpu_access(true);
  uint8_t* out = px->data();
  const size_t dst_stride = dst.stride();
  const bool whole = src_stride == dst_stride && height == dst.height();
  if (whole) {
    std::memcpy(out, src, dst_stride * height);
  } else {
    for (uint32_t y = 0; y < height; ++y)
      std::memcpy(out + y * dst_stride, src + static_cast<size_t>(y) * src_stride, row_bytes);
  }
  buffer::clear_stale(out, dst_stride, whole ? static_cast<uint32_t>(dst_stride) : row_bytes, height,
                      slot.drawn_row_bytes, slot.drawn_rows);
  dst.end_cpu_access(true);
  return whole ? uint64_t{src_stride} * height : uint64_t{row_bytes} * height;
}

}  // namespace zc::server
