#include "output/kms/copy.h"

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/format.h"

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

bool copy_reads_layout(uint64_t modifier) {
  return modifier == DRM_FORMAT_MOD_LINEAR || modifier == DRM_FORMAT_MOD_INVALID;
}

Result<uint64_t> copy_frame(buffer::Buffer& src, const buffer::ScanoutLease& lease, bool& converted) {
  if (!copy_reads_layout(src.desc().modifier))
    return Error{EINVAL, fmt::format("the buffer's layout {} is not LINEAR: the CPU cannot read it as rows",
                                     modifier_name(src.desc().modifier))};
  buffer::Buffer& dst = lease.buffer();
  auto in = src.map(false);
  if (!in) return Error{in.error().code, "cannot map the buffer to copy it: " + in.error().message()};
  auto out = dst.map(true);
  if (!out) return out.error();
  // CPU access to a dma-buf mapping is bracketed (DMA_BUF_IOCTL_SYNC), so
  // that caches are flushed for a device that does not snoop them.
  src.begin_cpu_access(false);
  dst.begin_cpu_access(true);
  buffer::ScanoutLease::Drawn& drawn = lease.drawn();
  const auto n = copy_pixels({in->data(), src.width(), src.height(), src.stride(), src.format()}, src.desc().y_invert,
                             {out->data(), dst.width(), dst.height(), dst.stride(), dst.format()}, drawn.row_bytes,
                             drawn.rows, converted);
  dst.end_cpu_access(true);
  src.end_cpu_access(false);
  if (!n) return Error{EINVAL, fmt::format("no conversion from {}", format_name(src.format()))};
  return *n;
}

Result<void> clear_frame(const buffer::ScanoutLease& lease) {
  buffer::Buffer& b = lease.buffer();
  buffer::ScanoutLease::Drawn& drawn = lease.drawn();
  if (drawn.row_bytes == 0 || drawn.rows == 0) return {};
  auto px = b.map(true);
  if (!px) return px.error();
  b.begin_cpu_access(true);
  buffer::clear_stale(px->data(), b.stride(), 0, 0, drawn.row_bytes, drawn.rows);
  b.end_cpu_access(true);
  return {};
}

}  // namespace zc::output::kms
