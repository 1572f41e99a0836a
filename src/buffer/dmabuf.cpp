#include "buffer/dmabuf.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>


#include "common/format.h"

namespace zc::buffer {

int64_t fd_size(int fd) {
  const off_t here = ::lseek(fd, 0, SEEK_CUR);
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) return -1;
  if (here >= 0) ::lseek(fd, here, SEEK_SET);
  return end;
}

uint64_t Dmabuf::plane0_extent() const {
  // All operands are 32-bit, so the 64-bit result cannot overflow.
  return uint64_t{planes[0].offset} + uint64_t{planes[0].stride} * height;
}

bool Dmabuf::linear() const { return modifier == DRM_FORMAT_MOD_LINEAR || modifier == DRM_FORMAT_MOD_INVALID; }

std::optional<DmabufInvalid> Dmabuf::validate(const FdSize& size_of) const {
  auto invalid = [](DmabufFault f, uint32_t plane, std::string msg) {
    return std::optional<DmabufInvalid>(DmabufInvalid{f, plane, std::move(msg)});
  };
  const FormatInfo* info = format_info(format);
  if (info == nullptr) return invalid(DmabufFault::format, 0, fmt::format("unsupported format {}", format_name(format)));
  // Metadata planes come only with a tiled or compressed layout.
  const uint32_t max_planes = linear() ? info->planes : kMaxPlanes;
  if (num_planes < info->planes || num_planes > max_planes)
    return invalid(DmabufFault::plane_count, 0,
                   linear() ? fmt::format("format {} takes {} plane(s), got {}", info->name, info->planes, num_planes)
                            : fmt::format("format {} with modifier {} takes {} to {} planes, got {}", info->name,
                                          modifier_name(modifier), info->planes, max_planes, num_planes));
  if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
    return invalid(DmabufFault::dimensions, 0,
                   fmt::format("invalid size {}x{} (1..{} each)", width, height, kMaxDimension));
  for (uint32_t i = 0; i < num_planes; ++i) {
    const Plane& p = planes[i];
    if (!p.fd) return invalid(DmabufFault::no_fd, i, fmt::format("plane {} has no fd", i));
    if (i >= info->planes) {
      // A metadata plane: its rows are the modifier's business; it must at
      // least start inside the buffer.
      const int64_t size = size_of(p.fd.get());
      if (p.stride == 0) return invalid(DmabufFault::stride, i, fmt::format("plane {} stride is 0", i));
      if (size >= 0 && uint64_t{p.offset} >= static_cast<uint64_t>(size))
        return invalid(DmabufFault::bounds, i,
                       fmt::format("plane {} (metadata): offset {} is past the buffer's end ({})", i, p.offset, size));
      continue;
    }
    // All operands are 32-bit: these 64-bit products and sums cannot overflow.
    const uint64_t row = uint64_t{width} * info->bytes_per_pixel;
    if (p.stride < row)
      return invalid(DmabufFault::stride, i,
                     fmt::format("plane {} stride {} is smaller than a row ({} x {} bytes = {})", i, p.stride,
                                 width, info->bytes_per_pixel, row));
    // With height >= 1 and stride >= 1 this also refuses an offset at or
    // past the end of the buffer.
    const uint64_t extent = uint64_t{p.offset} + uint64_t{p.stride} * height;
    const int64_t size = size_of(p.fd.get());
    if (size >= 0 && extent > static_cast<uint64_t>(size))
      return invalid(DmabufFault::bounds, i,
                     fmt::format("plane {}: offset {} + stride {} x height {} = {} exceeds the buffer size {}", i,
                                 p.offset, p.stride, height, extent, size));
  }
  return std::nullopt;
}

Result<void> set_planes(Dmabuf& d, std::span<const PlaneSource> planes,
                        const std::function<Result<UniqueFd>(uint32_t handle)>& export_handle) {
  d.num_planes = 0;
  for (Plane& p : d.planes) p = Plane{};
  if (planes.empty() || planes.size() > kMaxPlanes)
    return Error{EINVAL, fmt::format("a buffer object with {} planes (1..{})", planes.size(), kMaxPlanes)};
  for (size_t i = 0; i < planes.size(); ++i) {
    UniqueFd fd;
    for (size_t j = 0; j < i && !fd; ++j)
      if (planes[j].handle == planes[i].handle) fd = d.planes[j].fd.dup_cloexec();
    if (!fd) {
      auto e = export_handle(planes[i].handle);
      if (!e) {
        for (Plane& p : d.planes) p = Plane{};
        return e.error();
      }
      fd = std::move(e.value());
    }
    d.planes[i].fd = std::move(fd);
    d.planes[i].offset = planes[i].offset;
    d.planes[i].stride = planes[i].stride;
  }
  d.num_planes = static_cast<uint32_t>(planes.size());
  return {};
}

}  // namespace zc::buffer

namespace zc::buffer {
bool is_dmabuf_fd(int fd) {
  // Every dma-buf, whatever driver exported it, is an inode of the one
  // "dmabuf" pseudo-filesystem; its magic cannot be forged by a name.
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return false;
  return static_cast<unsigned long>(fs.f_type) == DMA_BUF_MAGIC;
}
}  // namespace zc::buffer
