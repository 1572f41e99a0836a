// memfd and udmabuf allocators: frames in ordinary anonymous pages.
#include <fcntl.h>
#include <fmt/core.h>
#include <linux/udmabuf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buffer/allocator.h"
#include "common/format.h"

namespace zc::buffer {
namespace {

// A memfd sized for one frame, sealed against shrinking: the receiver can then
// map it without risking SIGBUS if we (or anyone) truncate it later.
Result<UniqueFd> make_memfd(uint64_t size, uint32_t extra_seals) {
  UniqueFd fd{::memfd_create("zcpipe-frame", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
  if (!fd) return Error::from_errno("memfd_create");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) return Error::from_errno("ftruncate memfd");
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | extra_seals) < 0) return Error::from_errno("seal memfd");
  return fd;
}

Result<Dmabuf> layout(uint32_t width, uint32_t height, uint32_t format) {
  const FormatInfo* info = format_info(format);
  if (info == nullptr) return Error{EINVAL, fmt::format("unsupported format {}", format_name(format))};
  Dmabuf d;
  d.width = width;
  d.height = height;
  d.format = format;
  d.modifier = 0;  // DRM_FORMAT_MOD_LINEAR: rows one after another
  d.num_planes = 1;
  // Rows padded to 64 bytes, as most scanout engines want.
  d.planes[0].stride = (width * info->bytes_per_pixel + 63u) & ~63u;
  return d;
}

class MemfdAllocator final : public Allocator {
 public:
  Result<std::unique_ptr<Buffer>> allocate(uint32_t width, uint32_t height, uint32_t format,
                                           const std::vector<uint64_t>&) override {
    auto d = layout(width, height, format);
    if (!d) return d.error();
    auto fd = make_memfd(d->plane0_extent(), 0);
    if (!fd) return fd.error();
    d->planes[0].fd = std::move(fd.value());
    auto buf = std::make_unique<Buffer>(std::move(d.value()), Kind::shared_memory);
    if (auto m = buf->map(true); !m) return m.error();
    return buf;
  }
  std::string name() const override { return "memfd"; }
  std::string description() const override {
    return "memfd (shared memory, not a DMA-BUF)";
  }
  Kind kind() const override { return Kind::shared_memory; }
};

class UdmabufAllocator final : public Allocator {
 public:
  explicit UdmabufAllocator(UniqueFd dev) : dev_(std::move(dev)) {}
  Result<std::unique_ptr<Buffer>> allocate(uint32_t width, uint32_t height, uint32_t format,
                                           const std::vector<uint64_t>&) override {
    auto d = layout(width, height, format);
    if (!d) return d.error();
    // udmabuf needs page-aligned sizes and a memfd sealed against shrinking.
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t size = (d->plane0_extent() + page - 1) / page * page;
    auto memfd = make_memfd(size, 0);
    if (!memfd) return memfd.error();
    udmabuf_create req{};
    req.memfd = static_cast<uint32_t>(memfd->get());
    req.flags = UDMABUF_FLAGS_CLOEXEC;
    req.offset = 0;
    req.size = size;
    UniqueFd buf_fd{::ioctl(dev_.get(), UDMABUF_CREATE, &req)};
    if (!buf_fd) return Error::from_errno("UDMABUF_CREATE");
    d->planes[0].fd = std::move(buf_fd);
    auto buf = std::make_unique<Buffer>(std::move(d.value()), Kind::dmabuf);
    if (auto m = buf->map(true); !m) return m.error();
    return buf;
  }
  std::string name() const override { return "udmabuf"; }
  std::string description() const override { return "udmabuf (a DMA-BUF made from a memfd by /dev/udmabuf)"; }
  Kind kind() const override { return Kind::dmabuf; }

 private:
  UniqueFd dev_;
};

}  // namespace

Result<std::unique_ptr<Allocator>> create_memfd_allocator() {
  return std::unique_ptr<Allocator>(std::make_unique<MemfdAllocator>());
}

Result<std::unique_ptr<Allocator>> create_udmabuf_allocator() {
  UniqueFd dev{::open("/dev/udmabuf", O_RDWR | O_CLOEXEC)};
  if (!dev) return Error::from_errno("cannot open /dev/udmabuf");
  return std::unique_ptr<Allocator>(std::make_unique<UdmabufAllocator>(std::move(dev)));
}

}  // namespace zc::buffer
