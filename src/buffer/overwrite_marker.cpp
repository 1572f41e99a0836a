#include "buffer/overwrite_marker.h"

#include <cstring>

#include "common/format.h"

namespace zc::buffer {
namespace {

constexpr char kMagic[8] = {'Z', 'C', 'M', 'A', 'R', 'K', 'E', 'R'};

}  // namespace

bool marker_fits(uint32_t width, uint32_t height, uint32_t format) {
  const FormatInfo* info = format_info(format);
  return info != nullptr && height > 0 && uint64_t{width} * info->bytes_per_pixel >= kMarkerBytes;
}

bool write_marker(const PixelView& v, uint64_t frame) {
  if (v.data == nullptr || !marker_fits(v.width, v.height, v.format)) return false;
  uint8_t* at = v.data + static_cast<size_t>(v.height - 1) * v.stride;
  std::memcpy(at, kMagic, sizeof kMagic);
  for (int i = 0; i < 8; ++i) at[8 + i] = static_cast<uint8_t>(frame >> (8 * i));
  return true;
}

std::optional<uint64_t> read_marker(const ConstPixelView& v) {
  if (v.data == nullptr || !marker_fits(v.width, v.height, v.format)) return std::nullopt;
  const uint8_t* at = v.data + static_cast<size_t>(v.height - 1) * v.stride;
  if (std::memcmp(at, kMagic, sizeof kMagic) != 0) return std::nullopt;
  uint64_t frame = 0;
  for (int i = 0; i < 8; ++i) frame |= uint64_t{at[8 + i]} << (8 * i);
  return frame;
}

}  // namespace zc::buffer
