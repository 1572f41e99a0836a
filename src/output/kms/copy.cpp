#include "output/kms/copy.h"

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/format.h"
#include "output/kms/dumb.h"

namespace zc::output::kms {

std::span<const uint32_t> copy_formats() {
  static constexpr std::array<uint32_t, 5> kFormats = {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888,
                                                       DRM_FORMAT_ABGR8888, DRM_FORMAT_RGB888};
  return kFormats;
}

// Copies a frame into an XRGB8888 scanout buffer, converting the pixel
// format where needed and reversing the rows of a bottom-up (y_invert)
// source. A smaller source lands in the top-left corner; what earlier copies
// left outside it (their extent: drawn_row_bytes x drawn_rows) is cleared by
// buffer::clear_stale. Returns the bytes written from the source, or nullopt
// if the format cannot be converted.
std::optional<uint64_t> copy_pixels(const buffer::ConstPixelView& src, bool y_invert, const buffer::PixelView& dst,
                                    uint32_t& drawn_row_bytes, uint32_t& drawn_rows, bool& converted) {
  const uint32_t w = std::min(src.width, dst.width), h = std::min(src.height, dst.height);
  const uint32_t out_row = w * 4;
  converted = false;
  for (uint32_t y = 0; y < h; ++y) {
    const uint32_t sy = y_invert ? src.height - 1 - y : y;
    const uint8_t* s = src.data + static_cast<size_t>(sy) * src.stride;
    uint8_t* d = dst.data + static_cast<size_t>(y) * dst.stride;
    switch (src.format) {
      case DRM_FORMAT_XRGB8888:
      case DRM_FORMAT_ARGB8888:  // same bytes; the display ignores alpha on an X plane
        std::memcpy(d, s, out_row);
        break;
      case DRM_FORMAT_XBGR8888:
      case DRM_FORMAT_ABGR8888:
        converted = true;
        for (uint32_t x = 0; x < w; ++x) {
          d[4 * x + 0] = s[4 * x + 2];
          d[4 * x + 1] = s[4 * x + 1];
          d[4 * x + 2] = s[4 * x + 0];
          d[4 * x + 3] = 0xff;
        }
        break;
      case DRM_FORMAT_RGB888:  // little-endian B, G, R bytes -> B, G, R, X
        converted = true;
        for (uint32_t x = 0; x < w; ++x) {
          d[4 * x + 0] = s[3 * x + 0];
          d[4 * x + 1] = s[3 * x + 1];
          d[4 * x + 2] = s[3 * x + 2];
          d[4 * x + 3] = 0xff;
        }
        break;
      default:
        return std::nullopt;
    }
  }
  buffer::clear_stale(dst.data, dst.stride, out_row, h, drawn_row_bytes, drawn_rows);
  return uint64_t{out_row} * h;
}

Result<CopyPool::Lease> CopyPool::acquire() {
  for (const auto& t : targets_)
    if (!t->busy) return Lease(t);
  if (targets_.size() >= kMax) return Error{EBUSY, "all dumb buffers are in use"};
  auto alloc = create_dumb_allocator(std::weak_ptr<Device>(dev_));
  auto b = alloc->allocate(width_, height_, DRM_FORMAT_XRGB8888, {});
  if (!b) return b.error();
  auto t = std::make_shared<Target>();
  t->buffer = std::shared_ptr<buffer::Buffer>(std::move(b.value()));
  auto fb = Framebuffer::import(dev_->drm_ptr(), t->buffer->desc(), dev_->caps().addfb2_modifiers, counters_);
  if (!fb) return fb.error();
  t->fb = std::move(fb.value());
  targets_.push_back(t);
  return Lease(std::move(t));
}

Result<CopyPool::Lease> CopyPool::copy(buffer::Buffer& src, uint64_t& bytes, bool& converted) {
  auto lease = acquire();
  if (!lease) return Error{lease.error().code, "no dumb buffer for the copy: " + lease.error().message()};
  buffer::Buffer& dst = *(*lease)->buffer;
  auto in = src.map(false);
  if (!in) return Error{in.error().code, "cannot map the buffer to copy it: " + in.error().message()};
  auto out = dst.map(true);
  if (!out) return out.error();
  src.begin_cpu_access(false);
  dst.begin_cpu_access(true);
  const auto n = copy_pixels({in->data(), src.width(), src.height(), src.stride(), src.format()}, src.desc().y_invert,
                             {out->data(), dst.width(), dst.height(), dst.stride(), dst.format()},
                             (*lease)->drawn_row_bytes, (*lease)->drawn_rows, converted);
  dst.end_cpu_access(true);
  src.end_cpu_access(false);
  if (!n) return Error{EINVAL, fmt::format("no conversion from {}", format_name(src.format()))};
  bytes = *n;
  return lease;
}

Result<CopyPool::Lease> CopyPool::blank() {
  auto lease = acquire();
  if (!lease) return lease;
  Target& t = *lease.value().operator->();
  if (t.drawn_row_bytes != 0 && t.drawn_rows != 0) {
    auto px = t.buffer->map(true);
    if (!px) return px.error();
    t.buffer->begin_cpu_access(true);
    buffer::clear_stale(px->data(), t.buffer->stride(), 0, 0, t.drawn_row_bytes, t.drawn_rows);
    t.buffer->end_cpu_access(true);
  }
  return lease;
}

}  // namespace zc::output::kms
