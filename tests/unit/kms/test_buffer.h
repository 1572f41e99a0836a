// Test buffers for the KMS tests: memfds posing as dma-bufs, filled with
// the frame pattern (so the tests can check which frame a buffer holds).
#pragma once

#include <drm_fourcc.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>

#include "buffer/buffer.h"
#include "buffer/pattern.h"

namespace zc::test {

// A frame-sized memfd posing as a dma-buf (Kind says what it really is).
inline std::shared_ptr<buffer::Buffer> make_buffer(uint32_t w, uint32_t h, uint64_t frame,
                                            buffer::Kind kind = buffer::Kind::dmabuf,
                                            uint32_t format = DRM_FORMAT_XRGB8888,
                                            uint64_t modifier = DRM_FORMAT_MOD_LINEAR) {
  buffer::Dmabuf d;
  d.width = w;
  d.height = h;
  d.format = format;
  d.modifier = modifier;
  d.num_planes = 1;
  const uint32_t bpp = format == DRM_FORMAT_RGB888 ? 3 : 4;
  d.planes[0].stride = (w * bpp + 63u) & ~63u;
  const int fd = ::memfd_create("test-frame", MFD_CLOEXEC);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(d.planes[0].stride) * h), 0);
  d.planes[0].fd = UniqueFd{fd};
  auto b = std::make_shared<buffer::Buffer>(std::move(d), kind);
  auto px = b->map(true);
  EXPECT_TRUE(px.ok());
  buffer::render_pattern({px->data(), w, h, b->stride(), format}, frame);
  return b;
}

// Another descriptor of `src`'s memory (a dup of its fd), as a client could
// send it: its own format, stride and row order.
inline std::shared_ptr<buffer::Buffer> describe_again(const buffer::Buffer& src, uint32_t format, uint32_t stride,
                                                      bool y_invert) {
  buffer::Dmabuf d;
  d.width = src.width();
  d.height = src.height();
  d.format = format;
  d.modifier = DRM_FORMAT_MOD_LINEAR;
  d.num_planes = 1;
  d.planes[0].stride = stride;
  d.planes[0].fd = src.desc().planes[0].fd.dup_cloexec();
  d.y_invert = y_invert;
  return std::make_shared<buffer::Buffer>(std::move(d), buffer::Kind::dmabuf);
}

}  // namespace zc::test
