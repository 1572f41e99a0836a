// The GBM half of zcpipe-probe: can this device give the client a 4K buffer
// that it can write with the CPU, and the compositor scan out as it is?
//
//   gbm_bo_create(SCANOUT|LINEAR) -> GEM handle -> drmPrimeHandleToFD(RDWR) -> dma-buf fd
//                                                     |                         |
//                                  drmModeAddFB2 <----+      mmap(PROT_WRITE) <-+
//
// And the pitfall next to that path: Mesa 22.3's gbm_bo_get_fd() exports the
// dma-buf read-only. The kernel keeps one dma-buf per GEM object, so the
// first export decides its mode for every later one; that is why the
// read-only check uses a bo of its own.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <gbm.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "probe/probe.h"

namespace zc::probe {
namespace {

// Owns a gbm_device and the fd it was created on (a dup of the probe's fd:
// same open file, so GEM handles are shared). Destroys the device first.
class GbmDevice {
 public:
  static GbmDevice create(int drm_fd) {
    GbmDevice d;
    d.fd_ = UniqueFd{::fcntl(drm_fd, F_DUPFD_CLOEXEC, 0)};
    if (d.fd_) d.dev_ = gbm_create_device(d.fd_.get());
    return d;
  }
  GbmDevice() = default;
  GbmDevice(GbmDevice&& o) noexcept : fd_(std::move(o.fd_)), dev_(std::exchange(o.dev_, nullptr)) {}
  GbmDevice& operator=(GbmDevice&&) = delete;
  ~GbmDevice() {
    if (dev_ != nullptr) gbm_device_destroy(dev_);
  }
  gbm_device* get() const { return dev_; }

 private:
  UniqueFd fd_;
  gbm_device* dev_ = nullptr;
};

struct BoDeleter {
  void operator()(gbm_bo* bo) const noexcept { gbm_bo_destroy(bo); }
};
using Bo = std::unique_ptr<gbm_bo, BoDeleter>;

// A mapping that is unmapped on every path.
class Mapping {
 public:
  Mapping(void* p, size_t size) : p_(p), size_(size) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (p_ != MAP_FAILED) ::munmap(p_, size_);
  }
  bool ok() const { return p_ != MAP_FAILED; }
  uint32_t* pixels() const { return static_cast<uint32_t*>(p_); }

 private:
  void* p_;
  size_t size_;
};

int dmabuf_sync(int fd, uint64_t flags) {
  dma_buf_sync sync{};
  sync.flags = flags;
  int ret = 0;
  do {
    ret = ::ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
  } while (ret != 0 && (errno == EINTR || errno == EAGAIN));
  return ret;
}

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace

GbmCheck check_gbm(int drm_fd) {
  GbmCheck out;
  out.checked = true;
  GbmDevice dev = GbmDevice::create(drm_fd);
  if (dev.get() == nullptr) {
    out.error = errno_text("gbm_create_device failed", errno);
    return out;
  }
  out.device = true;
  if (const char* name = gbm_device_get_backend_name(dev.get())) out.backend = name;

  Bo bo{gbm_bo_create(dev.get(), out.width, out.height, GBM_FORMAT_XRGB8888,
                      GBM_BO_USE_SCANOUT | GBM_BO_USE_LINEAR)};
  if (!bo) {
    out.error = errno_text("gbm_bo_create(3840x2160 XRGB8888, SCANOUT|LINEAR) failed", errno);
    return out;
  }
  out.allocated = true;
  out.stride = gbm_bo_get_stride(bo.get());
  out.modifier = gbm_bo_get_modifier(bo.get());
  // The GEM handle belongs to the bo (gbm closes it in gbm_bo_destroy).
  const uint32_t handle = gbm_bo_get_handle(bo.get()).u32;

  int raw = -1;
  if (drmPrimeHandleToFD(drm_fd, handle, DRM_CLOEXEC | DRM_RDWR, &raw) != 0) {
    out.error = errno_text("drmPrimeHandleToFD(DRM_CLOEXEC | DRM_RDWR) failed", errno);
  } else {
    UniqueFd dmabuf{raw};
    out.exported = true;
    out.export_rdwr = (::fcntl(dmabuf.get(), F_GETFL) & O_ACCMODE) == O_RDWR;
    // The dma-buf's own size, not our arithmetic: that is what mmap checks.
    const off_t size = ::lseek(dmabuf.get(), 0, SEEK_END);
    Mapping map{size > 0 ? ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED,
                                  dmabuf.get(), 0)
                         : MAP_FAILED,
                static_cast<size_t>(size > 0 ? size : 0)};
    if (!map.ok()) {
      out.error = errno_text("mmap(PROT_READ | PROT_WRITE) of the exported dma-buf failed", errno);
    } else if (dmabuf_sync(dmabuf.get(), DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) != 0) {
      out.error = errno_text("DMA_BUF_IOCTL_SYNC(START) failed", errno);
    } else {
      // CPU access is bracketed by SYNC start/end so caches stay coherent
      // with whatever device reads the buffer (a no-op on virtio-gpu).
      map.pixels()[0] = 0x00c0ffee;
      map.pixels()[out.width - 1] = 0x00beef00;
      out.mmap_write = map.pixels()[0] == 0x00c0ffee && map.pixels()[out.width - 1] == 0x00beef00;
      dmabuf_sync(dmabuf.get(), DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
    }
  }

  // Registering the buffer as a framebuffer is what the compositor does with
  // a client's buffer before putting it on a plane. No modifier flag: the
  // buffer is LINEAR and many drivers (virtio-gpu) take no modifiers at all.
  uint32_t handles[4] = {handle};
  uint32_t pitches[4] = {out.stride};
  uint32_t offsets[4] = {0};
  uint32_t fb_id = 0;
  if (drmModeAddFB2(drm_fd, out.width, out.height, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &fb_id, 0) ==
      0) {
    out.addfb2 = true;
    drmModeRmFB(drm_fd, fb_id);
  } else if (out.error.empty()) {
    out.error = errno_text("drmModeAddFB2 of the GBM buffer failed", errno);
  }

  // The pitfall, on a second, small bo whose first export is gbm_bo_get_fd().
  Bo small{gbm_bo_create(dev.get(), 256, 256, GBM_FORMAT_XRGB8888, GBM_BO_USE_SCANOUT | GBM_BO_USE_LINEAR)};
  if (small) {
    UniqueFd fd{gbm_bo_get_fd(small.get())};
    if (fd) {
      out.get_fd_readonly = (::fcntl(fd.get(), F_GETFL) & O_ACCMODE) == O_RDONLY;
      const size_t size = static_cast<size_t>(gbm_bo_get_stride(small.get())) * 256;
      Mapping map{::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0), size};
      if (!map.ok()) out.get_fd_mmap_errno = errno;
    }
  }
  return out;
}

}  // namespace zc::probe
