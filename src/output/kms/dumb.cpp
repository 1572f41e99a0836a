#include "output/kms/dumb.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <xf86drm.h>

#include <cstring>
#include <set>

#include "common/format.h"
#include "common/log.h"

namespace zc::output::kms {
namespace {

class DumbAllocator final : public buffer::Allocator {
 public:
  explicit DumbAllocator(std::weak_ptr<Device> device) : device_(std::move(device)) {}

  Result<std::unique_ptr<buffer::Buffer>> allocate(uint32_t width, uint32_t height, uint32_t format,
                                                   const std::vector<uint64_t>& modifiers) override {
    const FormatInfo* info = format_info(format);
    if (info == nullptr) return Error{EINVAL, fmt::format("no dumb buffers of format {}", format_name(format))};
    auto dev = device_.lock();
    if (!dev) return Error{ENODEV, "the DRM device is closed"};
    auto b = allocate_dumb(*dev, width, height, format, info->bytes_per_pixel * 8);
    if (b || b.error().code != EINVAL || info->bytes_per_pixel == 4) return b;
    // Some drivers (virtio-gpu among them) only make 32-bit dumb buffers. A
    // 24-bit frame then goes to shared memory, and the output converts it
    // while copying it into a 32-bit scanout buffer (one more CPU copy, and
    // the output says so in every frame's record).
    if (warned_.insert(format).second)
      log::info("kms: {} has no {}-bit dumb buffers ({}): {} frames are staged in shared memory and converted "
                "for the display",
                dev->path(), info->bytes_per_pixel * 8, b.error().message(), info->name);
    if (!fallback_) {
      auto m = buffer::create_memfd_allocator();
      if (!m) return m.error();
      fallback_ = std::move(m.value());
    }
    return fallback_->allocate(width, height, format, modifiers);
  }
  std::string name() const override { return "dumb"; }
  std::string description() const override { return "KMS dumb buffers (CPU-written, scanned out by the display)"; }
  buffer::Kind kind() const override { return fallback_ ? buffer::Kind::shared_memory : buffer::Kind::dmabuf; }  // the weaker promise once a format fell back to memfds

 private:
  static Result<std::unique_ptr<buffer::Buffer>> allocate_dumb(Device& dev, uint32_t width, uint32_t height,
                                                               uint32_t format, uint32_t bpp) {
    Drm& drm = dev.drm();
    DumbInfo dumb;
    if (const int err = drm.create_dumb(width, height, bpp, dumb); err != 0)
      return Error{err, fmt::format("DRM_IOCTL_MODE_CREATE_DUMB {}x{} at {} bpp", width, height, bpp)};
    int fd = -1;
    // DRM_RDWR: a read-only export could not be mapped for writing.
    const int err = drm.prime_handle_to_fd(dumb.handle, DRM_CLOEXEC | DRM_RDWR, fd);
    // The dma-buf (or nothing, on failure) now holds the memory: drop the handle.
    if (const int e = drm.destroy_dumb(dumb.handle); e != 0)
      log::warn("kms: DRM_IOCTL_MODE_DESTROY_DUMB {}: {}", dumb.handle, std::strerror(e));
    if (err != 0) return Error{err, "drmPrimeHandleToFD(DRM_RDWR) of a dumb buffer"};
    buffer::Dmabuf d;
    d.width = width;
    d.height = height;
    d.format = format;
    d.modifier = 0;  // DRM_FORMAT_MOD_LINEAR: dumb buffers are linear by definition
    d.num_planes = 1;
    d.planes[0].fd = UniqueFd{fd};
    d.planes[0].offset = 0;
    d.planes[0].stride = dumb.pitch;
    auto buf = std::make_unique<buffer::Buffer>(std::move(d), buffer::Kind::dmabuf);
    // Mapped once, writable, for the buffer's whole life.
    if (auto m = buf->map(true); !m) return m.error();
    return buf;
  }

  std::weak_ptr<Device> device_;
  std::unique_ptr<buffer::Allocator> fallback_;
  std::set<uint32_t> warned_;
};

}  // namespace

std::unique_ptr<buffer::Allocator> create_dumb_allocator(std::weak_ptr<Device> device) {
  return std::make_unique<DumbAllocator>(std::move(device));
}

}  // namespace zc::output::kms
