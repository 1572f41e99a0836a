#include "output/read_back.h"

#include <drm_fourcc.h>
#include <fcntl.h>
#include <gbm.h>
#include <xf86drm.h>

#include <cstdlib>

#include "buffer/overwrite_marker.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "stats/ledger.h"
#include "stats/trace.h"

namespace zc::output {

// ------------------------------------------------------------ GBM
namespace {

// The gbm_device and the file it was made on; the device goes first (it
// borrows the fd). Shared with every gbm_bo imported on it, so no bo
// outlives its device, whatever order their owners go in.
struct GbmDevice {
  UniqueFd fd;
  gbm_device* dev = nullptr;
  GbmDevice() = default;
  GbmDevice(const GbmDevice&) = delete;
  GbmDevice& operator=(const GbmDevice&) = delete;
  ~GbmDevice() {
    if (dev != nullptr) gbm_device_destroy(dev);
  }
};

class GbmImage final : public DriverImage {
 public:
  GbmImage(std::shared_ptr<GbmDevice> dev, gbm_bo* bo, uint32_t width, uint32_t height, uint32_t format)
      : dev_(std::move(dev)), bo_(bo), width_(width), height_(height), format_(format) {}
  // The gbm_bo closes the GEM handle(s) the import opened in GBM's own file.
  ~GbmImage() override {
    unmap();
    gbm_bo_destroy(bo_);
  }
  Result<buffer::ConstPixelView> map() override {
    if (!failed_.empty()) return Error{0, failed_};
    // GBM_BO_TRANSFER_READ: the driver makes the mapping hold what the GPU
    // wrote. virgl (Mesa's virgl_resource_transfer_map) sends the host a
    // TRANSFER_FROM_HOST for the region and waits for it, since a buffer
    // imported from another process is never known to be clean; i915/iris,
    // amdgpu/radeonsi blit a tiled or compressed buffer into a linear
    // staging buffer and map that. Either way the view has the driver's
    // stride, not the dma-buf's.
    //
    // Per verified frame, not once: a mapping kept open would show the
    // transfer of the first frame forever. This is --verify's own cost
    // (outside the pipeline's figures, stats::ScopedVerify), and optional.
    uint32_t stride = 0;
    void* px = gbm_bo_map(bo_, 0, 0, width_, height_, GBM_BO_TRANSFER_READ, &stride, &map_data_);
    if (px == nullptr) {
      failed_ = Error::from_errno("gbm_bo_map(GBM_BO_TRANSFER_READ)").message();
      map_data_ = nullptr;
      return Error{0, failed_};
    }
    return buffer::ConstPixelView{static_cast<const uint8_t*>(px), width_, height_, stride, format_};
  }
  void unmap() override {
    if (map_data_ != nullptr) gbm_bo_unmap(bo_, std::exchange(map_data_, nullptr));
  }

 private:
  std::shared_ptr<GbmDevice> dev_;
  gbm_bo* bo_;
  uint32_t width_, height_, format_;
  void* map_data_ = nullptr;
  std::string failed_;  // a map failed once: the driver cannot, do not ask every frame
};

class GbmReader final : public DriverReader {
 public:
  explicit GbmReader(std::shared_ptr<GbmDevice> dev) : dev_(std::move(dev)) {}
  Result<std::unique_ptr<DriverImage>> import(const buffer::Buffer& b) override {
    const buffer::Dmabuf& d = b.desc();
    // Every plane: a compressed buffer's metadata plane is part of what
    // the driver must read to decompress it.
    gbm_import_fd_modifier_data in{};
    in.width = d.width;
    in.height = d.height;
    in.format = d.format;
    in.num_fds = d.num_planes;
    in.modifier = d.modifier;
    for (uint32_t i = 0; i < d.num_planes && i < buffer::kMaxPlanes; ++i) {
      in.fds[i] = d.planes[i].fd.get();
      in.strides[i] = static_cast<int>(d.planes[i].stride);
      in.offsets[i] = static_cast<int>(d.planes[i].offset);
    }
    gbm_bo* bo = gbm_bo_import(dev_->dev, GBM_BO_IMPORT_FD_MODIFIER, &in, 0);
    if (bo == nullptr) return Error::from_errno("gbm_bo_import(GBM_BO_IMPORT_FD_MODIFIER)");
    return std::unique_ptr<DriverImage>(std::make_unique<GbmImage>(dev_, bo, d.width, d.height, d.format));
  }

 private:
  std::shared_ptr<GbmDevice> dev_;
};

// A second open of the output's device node: a DRM file of its own.
// GEM handles are names per DRM file and the kernel does not count how
// often one was handed out (kms/framebuffer.cpp): had GBM shared the
// output's file, destroying a gbm_bo would close the handle a later
// framebuffer import of the same dma-buf gets back. The primary node first
// (Mesa's kms_swrast maps through dumb-buffer ioctls, which a render node
// refuses); a non-master file needs no authentication for PRIME imports
// and the driver's render ioctls.
Result<UniqueFd> open_own_file(int drm_fd) {
  for (auto name_of : {&drmGetDeviceNameFromFd2, &drmGetRenderDeviceNameFromFd}) {
    char* name = name_of(drm_fd);
    if (name == nullptr) continue;
    UniqueFd fd{::open(name, O_RDWR | O_CLOEXEC)};
    std::free(name);
    if (fd) return fd;
  }
  return Error{ENODEV, "no DRM node to open for GBM"};
}

}  // namespace

Result<std::unique_ptr<DriverReader>> make_gbm_reader(int drm_fd) {
  auto fd = open_own_file(drm_fd);
  if (!fd) return fd.error();
  auto dev = std::make_shared<GbmDevice>();
  dev->fd = std::move(fd.value());
  dev->dev = gbm_create_device(dev->fd.get());
  if (dev->dev == nullptr) return Error::from_errno("gbm_create_device");
  return std::unique_ptr<DriverReader>(std::make_unique<GbmReader>(std::move(dev)));
}

// ------------------------------------------------------------ reading
namespace {

// The layout a CPU can read row by row: LINEAR, or the implicit layout of a
// modifier-less buffer (linear on every device zcpipe drives without GBM).
bool cpu_readable_layout(const buffer::Buffer& b) {
  return b.desc().modifier == DRM_FORMAT_MOD_LINEAR || b.desc().modifier == DRM_FORMAT_MOD_INVALID;
}

// Each failure is logged once per process: the next frames fail alike.
bool warned_driver_map = false, warned_tiled = false, warned_mmap = false;

// Calls use(view) with `b`'s pixels: through the driver if one is given
// and it can, else through the CPU's own mapping if the layout is linear.
// Says how, or none (then `use` was not called).
template <class Use>
VerifyRead with_pixels(buffer::Buffer& b, DriverImage* driver, Use&& use) {
  if (driver != nullptr) {
    if (auto v = driver->map()) {
      use(*v);
      driver->unmap();
      return VerifyRead::gbm_map;
    } else {
      if (!std::exchange(warned_driver_map, true))
        log::warn("verify: the driver cannot map the shown buffer ({}): reading it by mmap", v.error().message());
    }
  }
  if (!cpu_readable_layout(b)) {
    if (!std::exchange(warned_tiled, true))
      log::warn("verify: the shown buffer has modifier {:#x} (tiled or compressed) and no driver maps it: "
                "not read (its bytes in memory order are not its rows)",
                b.desc().modifier);
    return VerifyRead::none;
  }
  auto px = b.map(false);
  if (!px) {
    if (!std::exchange(warned_mmap, true)) log::warn("verify: cannot map the shown buffer: {}", px.error().message());
    return VerifyRead::none;
  }
  // A dma-buf the GPU may still write: bracket the CPU read (DMA_BUF_IOCTL_SYNC).
  b.begin_cpu_access(false);
  use(buffer::ConstPixelView{px->data(), b.width(), b.height(), b.stride(), b.format()});
  b.end_cpu_access(false);
  return VerifyRead::mmap;
}

}  // namespace

// Both reads run inside a stats::ScopedVerify: reading every pixel of a 4K
// frame twice per flip costs the CPU far more than the zero-copy pipeline
// does, and it is --verify's cost, not the pipeline's. The ledger reports it
// apart (verify_us, verify_syscalls), so the pipeline's own figure is what a
// run with --verify shows.
void read_back(buffer::Buffer& b, Presented& p, DriverImage* driver) {
  stats::ScopedVerify verify;
  p.verify_read = with_pixels(b, driver, [&p](const buffer::ConstPixelView& v) {
    p.checksum = buffer::checksum(v);
    p.decoded_frame = buffer::decode_pattern(v);
  });
}

LastLook last_look(buffer::Buffer& b, DriverImage* driver) {
  stats::ScopedVerify verify;
  LastLook l;
  // Unreadable: read_back() said why when the buffer was shown.
  with_pixels(b, driver, [&l](const buffer::ConstPixelView& v) {
    l.checksum = buffer::checksum(v);
    l.marker = buffer::read_marker(v);
  });
  return l;
}

void LeavingWitness::leaving(buffer::Buffer& b, DriverImage* driver) {
  if (!checksum_) return;  // not read when shown (unmappable): nothing to compare with
  const LastLook l = last_look(b, driver);
  if (l.checksum && *l.checksum != *checksum_) rewritten_++;
  if (!frame_) return;  // a frame without a readable number: nothing to compare the marker with
  frames_++;
  const bool seen = l.marker && (*l.marker & 0xffffffffu) == *frame_;
  if (seen) marker_seen_++;
  ZC_TRACE(fmt::format("--verify, last look at frame {} before it leaves the screen: {}", *frame_,
                       seen ? "the client's overwrite marker is there: this display reads the client's own memory"
                            : "no overwrite marker for it: what the display shows is not the client's memory "
                              "(or the client wrote none)"),
           0);
  checksum_.reset();
  frame_.reset();
}

}  // namespace zc::output
