#include "server/shm_geometry.h"

#include <fmt/core.h>
#include <wayland-server-protocol.h>

#include "common/format.h"

namespace zc::server {

namespace {
// wl_shm's format codes are DRM fourccs, except its first two (0 and 1).
uint32_t drm_fourcc(uint32_t wl_shm_format) {
  if (wl_shm_format == WL_SHM_FORMAT_ARGB8888) return 0x34325241u;  // 'AR24'
  if (wl_shm_format == WL_SHM_FORMAT_XRGB8888) return 0x34325258u;  // 'XR24'
  return wl_shm_format;
}
}  // namespace

std::optional<ShmGeometryError> check_shm_geometry(int32_t width, int32_t height, int32_t stride,
                                                   uint32_t wl_shm_format, int32_t offset, size_t pool_size) {
  const FormatInfo* info = format_info(drm_fourcc(wl_shm_format));
  if (info == nullptr || info->planes != 1)
    return ShmGeometryError{WL_SHM_ERROR_INVALID_FORMAT,
                            fmt::format("wl_shm format 0x{:x} ({}) is not one this compositor can read",
                                        wl_shm_format, format_name(drm_fourcc(wl_shm_format)))};
  if (width <= 0 || height <= 0)
    return ShmGeometryError{WL_SHM_ERROR_INVALID_STRIDE,
                            fmt::format("invalid size {}x{}: both must be positive", width, height)};
  if (offset < 0)
    return ShmGeometryError{WL_SHM_ERROR_INVALID_STRIDE, fmt::format("negative offset {}", offset)};
  // All operands below are at most 32 bits wide: their 64-bit products and
  // sums cannot overflow, so no check here can be wrapped around.
  const uint64_t row = uint64_t{static_cast<uint32_t>(width)} * info->bytes_per_pixel;
  if (stride <= 0 || static_cast<uint64_t>(stride) < row)
    return ShmGeometryError{WL_SHM_ERROR_INVALID_STRIDE,
                            fmt::format("stride {} is smaller than a row of {} pixels of {} ({} x {} = {} bytes)",
                                        stride, width, info->name, width, info->bytes_per_pixel, row)};
  // The last byte read is that of the last row's last pixel; the padding
  // after it need not exist, but asking for the full stride × height is what
  // libwayland and every client do, and it keeps the rule simple to state.
  const uint64_t extent = uint64_t{static_cast<uint32_t>(offset)} +
                          uint64_t{static_cast<uint32_t>(stride)} * static_cast<uint32_t>(height);
  if (extent > pool_size)
    return ShmGeometryError{WL_SHM_ERROR_INVALID_STRIDE,
                            fmt::format("offset {} + stride {} x height {} = {} bytes exceeds the pool's {} bytes",
                                        offset, stride, height, extent, pool_size)};
  return std::nullopt;
}

}  // namespace zc::server
