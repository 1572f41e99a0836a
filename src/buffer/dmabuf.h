// Dmabuf: the description of a buffer that crosses process boundaries by
// file descriptor. This is all the linux-dmabuf protocol transports: no
// pixels, just fds plus the layout needed to interpret the memory behind them.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace zc::buffer {

constexpr uint32_t kMaxPlanes = 4;     // linux-dmabuf allows plane indices 0..3
constexpr uint32_t kMaxDimension = 16384;  // larger than any scanout engine accepts

// Size of the object behind a dma-buf or memfd descriptor, from lseek(SEEK_END)
// (dma-bufs report their size this way; the file offset is restored).
// Returns -1 with errno set when the fd cannot be sized (e.g. a pipe).
int64_t fd_size(int fd);
// How validate() sizes an fd (tests pretend sizes without allocating them).
using FdSize = std::function<int64_t(int fd)>;

// What is wrong with a Dmabuf: the kind (callers map it to their own error
// codes, e.g. linux-dmabuf's) and a message naming the values.
enum class DmabufFault { format, plane_count, dimensions, no_fd, stride, bounds };
struct DmabufInvalid {
  DmabufFault fault;
  uint32_t plane = 0;  // for no_fd, stride, bounds
  std::string message;
};

struct Plane {
  UniqueFd fd;
  uint32_t offset = 0;
  uint32_t stride = 0;
};

struct Dmabuf {
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t format = 0;     // DRM fourcc
  uint64_t modifier = 0;   // DRM_FORMAT_MOD_*; INVALID = implicit layout
  uint32_t num_planes = 0;
  std::array<Plane, kMaxPlanes> planes{};
  // Rows are stored bottom-up (linux-dmabuf's Y_INVERT flag; what OpenGL
  // renders): row 0 in memory is the bottom of the image.
  bool y_invert = false;

  // Bytes of plane 0 a reader touches: offset + stride * height.
  uint64_t plane0_extent() const;
  // Whether the layout is one every reader understands: LINEAR, or no
  // modifier (the implicit layout, linear on every device zcpipe meets).
  // Anything else (tiled, compressed) only the device that made it can read.
  bool linear() const;
  // The one validator of a buffer description, whoever built it: linux-dmabuf
  // import (server/dmabuf_params.cpp maps each fault to its protocol error)
  // and anything else that receives a Dmabuf. Checks every field: format
  // known, plane count, dimensions, each plane's fd and stride, and offset +
  // stride x height against overflow and the fd's real size (`size`, by
  // default lseek(SEEK_END); an fd that cannot be sized skips that check).
  // nullopt when valid.
  // Plane count: the format's planes (one for XRGB8888, two for NV12), plus,
  // with a tiled or compressed modifier, metadata planes up to 4 in all:
  // Intel's CCS and AMD's DCC keep their compression state in planes of
  // their own (I915_FORMAT_MOD_Y_TILED_CCS: XRGB8888 in 2 planes). How many
  // a modifier adds only the kernel knows (it checks at AddFB2); their
  // stride and size follow the modifier's rules, so only their fd and that
  // the offset lies inside the buffer are checked here.
  std::optional<DmabufInvalid> validate(const FdSize& size = fd_size) const;
};

// One plane of a buffer object a driver allocated (gbm_bo_get_handle_for_plane,
// gbm_bo_get_offset, gbm_bo_get_stride_for_plane).
struct PlaneSource {
  uint32_t handle = 0;  // GEM handle on the allocating device
  uint32_t offset = 0;
  uint32_t stride = 0;
};
// Fills d.planes / d.num_planes from `planes`: one fd per plane, exported
// (`export_handle`, e.g. drmPrimeHandleToFD) once per distinct GEM handle
// and duplicated for the planes that share it — a compressed buffer keeps
// its metadata plane in the same object as its pixels, and the kernel would
// hand back the same dma-buf anyway. On error d's planes are empty again.
Result<void> set_planes(Dmabuf& d, std::span<const PlaneSource> planes,
                        const std::function<Result<UniqueFd>(uint32_t handle)>& export_handle);

}  // namespace zc::buffer

namespace zc::buffer {
// Whether a received descriptor is a real dma-buf: a file of the kernel's
// dma-buf pseudo-filesystem (fstatfs f_type == DMA_BUF_MAGIC). Decided by
// what the file is, never by its name: a client can name a regular file
// anything, e.g. "/dmabuf:x", which is what /proc/self/fd shows for one.
// Everything else (memfds, regular files) is memory the client can still
// resize, and must be treated as such.
bool is_dmabuf_fd(int fd);
}  // namespace zc::buffer
