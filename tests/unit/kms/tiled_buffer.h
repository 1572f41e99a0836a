// Tiled and compressed buffers for the KMS tests, as Intel hardware wants
// them: a plane that lists such modifiers, and buffers in those layouts —
// memfds posing as dma-bufs (their pixels are never read: a tiled layout is
// for the display engine, not the CPU).
#pragma once

#include <drm_fourcc.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>

#include "buffer/buffer.h"
#include "fake_drm.h"

namespace zc::test {

constexpr uint64_t kXTiled = I915_FORMAT_MOD_X_TILED;
constexpr uint64_t kYTiledCcs = I915_FORMAT_MOD_Y_TILED_CCS;    // 2 planes for XRGB8888: pixels + CCS
constexpr uint64_t kYfTiledCcs = I915_FORMAT_MOD_Yf_TILED_CCS;  // a layout the plane below lacks

// An Intel-like primary plane: LINEAR, X-tiled and Y-tiled with CCS.
inline void intel_plane(FakeDrm& f) {
  f.addfb2_modifiers = 1;
  f.in_formats_blob = in_formats_blob({DRM_FORMAT_XRGB8888}, {{DRM_FORMAT_MOD_LINEAR, 1}, {kXTiled, 1}, {kYTiledCcs, 1}});
}

// A 64x48 XRGB8888 buffer in `modifier`'s layout: the main surface in one
// memfd posing as the dma-buf, then (for CCS) the metadata plane — behind it
// in the same memfd (one buffer object, as GBM allocates it), or with
// `separate_objects` in a memfd of its own (two objects, each with its own
// fences, as a client may also send them).
inline std::shared_ptr<buffer::Buffer> tiled_buffer(uint64_t modifier, uint32_t planes, bool separate_objects = false) {
  buffer::Dmabuf d;
  d.width = 64;
  d.height = 48;
  d.format = DRM_FORMAT_XRGB8888;
  d.modifier = modifier;
  d.num_planes = planes;
  const uint32_t main_size = 512 * 48;  // Y tiles: 128-byte x 32-row tiles, stride padded to 512
  const int fd = ::memfd_create("tiled", MFD_CLOEXEC);
  EXPECT_EQ(::ftruncate(fd, main_size + 4096), 0);
  d.planes[0] = buffer::Plane{UniqueFd{fd}, 0, 512};
  if (planes > 1 && separate_objects) {
    const int meta = ::memfd_create("tiled-metadata", MFD_CLOEXEC);
    EXPECT_EQ(::ftruncate(meta, 4096), 0);
    d.planes[1] = buffer::Plane{UniqueFd{meta}, 0, 128};
  } else if (planes > 1) {
    d.planes[1] = buffer::Plane{d.planes[0].fd.dup_cloexec(), main_size, 128};
  }
  return std::make_shared<buffer::Buffer>(std::move(d), buffer::Kind::dmabuf);
}

}  // namespace zc::test
