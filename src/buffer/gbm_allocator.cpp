// GBM allocator: frames in buffers the DRM device itself allocated, so the
// display engine can read them directly (scanout) — the zero-copy path.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <gbm.h>
#include <sys/stat.h>
#include <virtgpu_drm.h>  // libdrm's copy of the kernel's uapi header
#include <xf86drm.h>

#include <algorithm>
#include <array>
#include <span>
#include <string_view>

#include "buffer/allocator.h"
#include "buffer/drm_node.h"
#include "common/format.h"
#include "common/log.h"

namespace zc::buffer {
namespace {

// Whether a CPU mapping of this device's buffers is only a copy of them, so
// that CPU writes must go through the driver (CpuWritePath::gbm_map).
//
// On Intel, AMD and Arm a LINEAR GBM buffer is system memory (or VRAM seen
// through the PCI BAR) that the display engine scans out: mmap of its
// dma-buf gives the CPU those very pages, and DMA_BUF_IOCTL_SYNC flushes the
// caches around the writes. The plain virtio-gpu device is the same in
// effect: Mesa's kms_swrast makes dumb buffers (2D resources), and the
// guest kernel sends TRANSFER_TO_HOST_2D for a dumb buffer when the plane is
// updated.
//
// virtio-gpu with 3D (virgl) is different. Mesa's virgl driver makes a GBM
// buffer a 3D resource of virglrenderer on the host, backed by guest pages
// that are a shadow of it: the host's GL draws into the host's copy, QEMU
// displays the host's copy, and the two are made equal only by transfers
// (VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D / _FROM_HOST_3D) that a driver sends.
// The kernel sends none for a 3D resource at a plane update, and a CPU
// writing through mmap of the dma-buf writes only the shadow: the display
// would never see it. Mesa sends the transfer when the CPU writes through
// it: gbm_bo_map(GBM_BO_TRANSFER_WRITE) maps the resource (possibly first
// fetching the host's copy: GBM cannot say the whole frame is overwritten),
// and gbm_bo_unmap queues TRANSFER_TO_HOST_3D and flushes it to the host,
// attaching a fence to the buffer that the compositor's commit waits for.
//
// The test: the kernel driver is "virtio_gpu" and reports 3D features
// (VIRTGPU_PARAM_3D_FEATURES, what Mesa itself asks to choose virgl over
// kms_swrast). gbm_bo_map would be correct everywhere (a driver that maps
// the buffer directly just returns a pointer), but it maps and unmaps per
// frame, so it is used only where a CPU mapping is not the buffer.
bool cpu_mapping_is_a_copy(int drm_fd) {
  drmVersionPtr v = drmGetVersion(drm_fd);
  if (v == nullptr) return false;
  const bool virtio_gpu = std::string_view(v->name, static_cast<size_t>(v->name_len)) == "virtio_gpu";
  drmFreeVersion(v);
  if (!virtio_gpu) return false;
  int has_3d = 0;
  drm_virtgpu_getparam p{};
  p.param = VIRTGPU_PARAM_3D_FEATURES;
  p.value = reinterpret_cast<uintptr_t>(&has_3d);  // the kernel writes an int there
  if (drmIoctl(drm_fd, DRM_IOCTL_VIRTGPU_GETPARAM, &p) != 0) return false;
  return has_3d != 0;
}

// Owns a gbm_device and the DRM fd it was created on; destroyed in that order.
struct GbmDevice {
  UniqueFd fd;
  gbm_device* dev = nullptr;
  std::string path;
  bool write_through_driver = false;  // cpu_mapping_is_a_copy(fd)
  ~GbmDevice() {
    if (dev != nullptr) gbm_device_destroy(dev);
  }
};

class GbmBuffer final : public Buffer {
 public:
  GbmBuffer(Dmabuf d, std::shared_ptr<GbmDevice> device, gbm_bo* bo)
      : Buffer(std::move(d), Kind::dmabuf), device_(std::move(device)), bo_(bo) {}
  ~GbmBuffer() override {
    if (write_map_ != nullptr) gbm_bo_unmap(bo_, write_map_);
    gbm_bo_destroy(bo_);
  }

  CpuWritePath cpu_write_path() const override {
    return device_->write_through_driver ? CpuWritePath::gbm_map : CpuWritePath::mmap;
  }

  // On virgl, one map and unmap per frame: the price of a device whose
  // buffers live elsewhere (the host), paid in the client's render step and
  // counted there. The whole frame is mapped: Mesa transfers the mapped box.
  Result<CpuWriteView> begin_cpu_write() override {
    if (!device_->write_through_driver) return Buffer::begin_cpu_write();
    if (write_map_ != nullptr) return Error{EBUSY, "gbm_bo_map: the buffer is already mapped for writing"};
    uint32_t stride = 0;
    void* p = gbm_bo_map(bo_, 0, 0, width(), height(), GBM_BO_TRANSFER_WRITE, &stride, &write_map_);
    if (p == nullptr) {
      write_map_ = nullptr;
      return Error::from_errno(fmt::format("gbm_bo_map(GBM_BO_TRANSFER_WRITE) {}x{} on {}", width(), height(),
                                           device_->path));
    }
    return CpuWriteView{static_cast<uint8_t*>(p), stride};
  }
  void end_cpu_write() override {
    if (!device_->write_through_driver) return Buffer::end_cpu_write();
    // Mesa's virgl queues TRANSFER_TO_HOST_3D for the mapped box here, and
    // GBM flushes the context, so the transfer leaves before this returns.
    if (write_map_ != nullptr) gbm_bo_unmap(bo_, write_map_);
    write_map_ = nullptr;
  }

 private:
  std::shared_ptr<GbmDevice> device_;  // the bo must die before its device
  gbm_bo* bo_;
  void* write_map_ = nullptr;  // gbm_bo_map's map_data between begin and end_cpu_write
};

class GbmAllocator final : public Allocator {
 public:
  explicit GbmAllocator(std::shared_ptr<GbmDevice> d) : device_(std::move(d)) {}

  Result<std::unique_ptr<Buffer>> allocate(uint32_t width, uint32_t height, uint32_t format,
                                           const std::vector<uint64_t>& modifiers) override {
    // `modifiers` is the caller's choice (for the cpu renderer: LINEAR, or
    // nothing where the device has no modifiers). INVALID is not a layout but
    // "no modifier": GBM must not be handed it as one.
    std::vector<uint64_t> explicit_mods;
    for (uint64_t m : modifiers)
      if (m != DRM_FORMAT_MOD_INVALID) explicit_mods.push_back(m);
    const bool linear_ok = explicit_mods.empty() || std::find(explicit_mods.begin(), explicit_mods.end(),
                                                              DRM_FORMAT_MOD_LINEAR) != explicit_mods.end();
    gbm_bo* bo = nullptr;
    if (!explicit_mods.empty()) {
      // GBM picks one of the modifiers (the driver's favourite: on Intel and
      // AMD a tiled or compressed one, which the GPU renders fastest and the
      // display reads with least memory bandwidth).
#if ZCPIPE_HAVE_GBM_MODIFIERS2
      bo = gbm_bo_create_with_modifiers2(device_->dev, width, height, format, explicit_mods.data(),
                                         static_cast<unsigned>(explicit_mods.size()),
                                         GBM_BO_USE_SCANOUT | GBM_BO_USE_RENDERING);
#endif
      // The first API (Mesa before 21.3, or a driver refusing usage flags
      // together with modifiers): the same, with SCANOUT|RENDERING implied.
      if (bo == nullptr)
        bo = gbm_bo_create_with_modifiers(device_->dev, width, height, format, explicit_mods.data(),
                                          static_cast<unsigned>(explicit_mods.size()));
    }
    // Drivers without modifier support (Mesa's kms_swrast among them) refuse
    // the call above. The fallback makes a LINEAR buffer without a modifier,
    // so it is only right when LINEAR (or no modifier) is what was asked for:
    // a linear buffer labelled as a tiled one would be shown scrambled.
    if (bo == nullptr && !linear_ok)
      return Error::from_errno(fmt::format("gbm_bo_create_with_modifiers2 {}x{} {} on {}", width, height,
                                           format_name(format), device_->path));
    if (bo == nullptr) {
      // LINEAR: rows one after another, a layout every scanout engine and the CPU understand.
      bo = gbm_bo_create(device_->dev, width, height, format, GBM_BO_USE_SCANOUT | GBM_BO_USE_LINEAR);
    }
    if (bo == nullptr)
      return Error::from_errno(fmt::format("gbm_bo_create {}x{} {} on {}", width, height,
                                           format_name(format), device_->path));
    Dmabuf d;
    d.width = width;
    d.height = height;
    d.format = format;
    d.modifier = gbm_bo_get_modifier(bo);
    // Mesa reports INVALID (implicit) for a LINEAR-flagged bo. Its layout is
    // linear: say LINEAR when the consumer asked for LINEAR, and keep "no
    // modifier" when it asked for none (it may accept only that).
    if (d.modifier == DRM_FORMAT_MOD_INVALID && !explicit_mods.empty()) d.modifier = DRM_FORMAT_MOD_LINEAR;
    // Every plane: a compressed layout adds metadata planes to the format's
    // own (Intel CCS, AMD DCC), and a reader given only the first would see
    // garbage. Each has its own offset and stride, often in the same object.
    const int count = gbm_bo_get_plane_count(bo);
    std::array<PlaneSource, kMaxPlanes> src{};
    for (int i = 0; i < count && i < static_cast<int>(kMaxPlanes); ++i)
      src[static_cast<size_t>(i)] = PlaneSource{gbm_bo_get_handle_for_plane(bo, i).u32, gbm_bo_get_offset(bo, i),
                                                gbm_bo_get_stride_for_plane(bo, i)};
    // Pitfall: gbm_bo_get_fd() in Mesa 22.3 exports an O_RDONLY dma-buf, and the
    // first export fixes the mode for all later ones, so mmap(PROT_WRITE) would
    // fail with EACCES. Export the GEM handles ourselves, read-write, first.
    const int drm_fd = device_->fd.get();
    auto planes = set_planes(d, std::span<const PlaneSource>(src.data(), count > 0 ? static_cast<size_t>(count) : 0),
                             [drm_fd](uint32_t handle) -> Result<UniqueFd> {
                               int fd = -1;
                               if (drmPrimeHandleToFD(drm_fd, handle, DRM_CLOEXEC | DRM_RDWR, &fd) != 0)
                                 return Error::from_errno("drmPrimeHandleToFD(DRM_RDWR)");
                               return UniqueFd{fd};
                             });
    if (!planes) {
      gbm_bo_destroy(bo);
      return planes.error();
    }
    const bool linear = d.linear();
    auto buf = std::make_unique<GbmBuffer>(std::move(d), device_, bo);
    // Mapped once, for a renderer that writes with the CPU (which gets
    // LINEAR buffers only). A tiled or compressed buffer is not mapped: only
    // the GPU can draw it, and a CPU view of it would be meaningless. Nor is
    // one the CPU writes through the driver (virgl): its mapping would show
    // only the guest's shadow of the host's resource.
    if (linear && !device_->write_through_driver)
      if (auto m = buf->map(true); !m) return m.error();
    return std::unique_ptr<Buffer>(std::move(buf));
  }
  std::string name() const override { return "gbm"; }
  std::string description() const override {
    return fmt::format("gbm on {} ({}): DMA-BUFs the display engine can scan out{}", device_->path,
                       gbm_device_get_backend_name(device_->dev),
                       device_->write_through_driver ? "; a CPU writes them through gbm_bo_map (virgl: they live on the host)"
                                                     : "");
  }
  Kind kind() const override { return Kind::dmabuf; }
  std::string device_path() const override { return device_->path; }

 private:
  std::shared_ptr<GbmDevice> device_;
};

// Opens a node and checks that GBM can really allocate a small scanout buffer
// there (Mesa's kms_swrast fallback needs dumb buffers, which render nodes
// refuse: see drm_node.h for why the primary node is tried first).
Result<std::shared_ptr<GbmDevice>> try_node(const std::string& path) {
  auto d = std::make_shared<GbmDevice>();
  d->path = path;
  d->fd = UniqueFd{::open(path.c_str(), O_RDWR | O_CLOEXEC)};
  if (!d->fd) return Error::from_errno("open " + path);
  d->dev = gbm_create_device(d->fd.get());
  if (d->dev == nullptr) return Error::from_errno("gbm_create_device on " + path);
  gbm_bo* probe = gbm_bo_create(d->dev, 64, 64, DRM_FORMAT_XRGB8888, GBM_BO_USE_SCANOUT | GBM_BO_USE_LINEAR);
  if (probe == nullptr) return Error::from_errno("gbm_bo_create on " + path);
  gbm_bo_destroy(probe);
  d->write_through_driver = cpu_mapping_is_a_copy(d->fd.get());
  return d;
}

// The device's primary and render nodes, with their device numbers.
void add_nodes(drmDevicePtr dev, size_t index, std::vector<DrmNode>& out) {
  const std::pair<int, NodeType> kinds[] = {{DRM_NODE_PRIMARY, NodeType::primary}, {DRM_NODE_RENDER, NodeType::render}};
  for (const auto& [node, type] : kinds) {
    if ((dev->available_nodes & (1 << node)) == 0) continue;
    struct stat st {};
    const std::string path = dev->nodes[node];
    if (::stat(path.c_str(), &st) != 0) continue;
    out.push_back(DrmNode{path, type, st.st_rdev, index});
  }
}

}  // namespace

Result<std::unique_ptr<Allocator>> create_gbm_allocator(const AllocatorRequest& req) {
  std::vector<std::string> candidates;
  if (!req.device_path.empty()) {
    candidates.push_back(req.device_path);
  } else {
    std::vector<DrmNode> nodes;
    if (req.device) {
      // linux-dmabuf feedback named the device (one of its nodes): only its nodes.
      drmDevicePtr dev = nullptr;
      if (drmGetDeviceFromDevId(*req.device, 0, &dev) == 0) {
        add_nodes(dev, 0, nodes);
        drmFreeDevice(&dev);
      }
    } else {
      drmDevicePtr devs[16] = {};
      const int n = drmGetDevices2(0, devs, 16);
      for (int i = 0; i < n; ++i) add_nodes(devs[i], static_cast<size_t>(i), nodes);
      if (n > 0) drmFreeDevices(devs, n);
    }
    candidates = gbm_node_order(std::move(nodes), req.device);
  }
  if (candidates.empty()) return Error{ENODEV, "no DRM device found for GBM (/dev/dri is empty or absent)"};
  Error last{ENODEV, "no usable DRM node"};
  for (const auto& path : candidates) {
    auto d = try_node(path);
    if (d) return std::unique_ptr<Allocator>(std::make_unique<GbmAllocator>(std::move(d.value())));
    log::debug("gbm: {}", d.error().message());
    last = d.error();
  }
  return last;
}

std::optional<AllocatorChoice> allocator_choice_from_name(const std::string& name) {
  if (name == "auto") return AllocatorChoice::automatic;
  if (name == "gbm") return AllocatorChoice::gbm;
  if (name == "udmabuf") return AllocatorChoice::udmabuf;
  if (name == "memfd") return AllocatorChoice::memfd;
  return std::nullopt;
}

Result<std::unique_ptr<Allocator>> create_allocator(const AllocatorRequest& req) {
  switch (req.choice) {
    case AllocatorChoice::gbm: return create_gbm_allocator(req);
    case AllocatorChoice::udmabuf: return create_udmabuf_allocator();
    case AllocatorChoice::memfd: return create_memfd_allocator();
    case AllocatorChoice::automatic: break;
  }
  if (auto g = create_gbm_allocator(req)) return g;
  else log::debug("no GBM allocator: {}", g.error().message());
  if (auto u = create_udmabuf_allocator()) return u;
  return create_memfd_allocator();
}

}  // namespace zc::buffer
