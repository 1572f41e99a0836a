#include "buffer/dmabuf.h"

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

Result<void> Dmabuf::validate() const {
  const FormatInfo* info = format_info(format);
  if (info == nullptr) return Error{EINVAL, fmt::format("unsupported format {}", format_name(format))};
  if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
    return Error{EINVAL, fmt::format("invalid size {}x{}", width, height)};
  if (num_planes != info->planes)
    return Error{EINVAL, fmt::format("format {} has {} plane(s), got {}", info->name, info->planes, num_planes)};
  for (uint32_t i = 0; i < num_planes; ++i) {
    const Plane& p = planes[i];
    if (!p.fd) return Error{EBADF, fmt::format("plane {} has no fd", i)};
    const uint64_t row = uint64_t{width} * info->bytes_per_pixel;
    if (p.stride < row) return Error{EINVAL, fmt::format("plane {} stride {} < row size {}", i, p.stride, row)};
    const uint64_t extent = uint64_t{p.offset} + uint64_t{p.stride} * height;
    const int64_t size = fd_size(p.fd.get());
    if (size >= 0 && extent > static_cast<uint64_t>(size))
      return Error{EINVAL, fmt::format("plane {} needs {} bytes, buffer has {}", i, extent, size)};
  }
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
