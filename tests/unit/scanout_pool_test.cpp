// ScanoutPool: the compositor-owned buffers the copying transports fill.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "buffer/allocator.h"
#include "server/scanout_pool.h"

namespace zc::test {
namespace {

constexpr uint32_t kW = 64, kH = 48;

// Pixel (x, y) of a w-wide frame filled with `seed`: never 0.
uint32_t px(uint32_t seed, uint32_t x, uint32_t y) { return (seed << 24) | (y << 12) | x | 0x800000u; }

std::vector<uint32_t> frame(uint32_t w, uint32_t h, uint32_t seed) {
  std::vector<uint32_t> f(size_t{w} * h);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) f[size_t{y} * w + x] = px(seed, x, y);
  return f;
}

// Every pixel of the pool's buffer: the w x h frame `seed` in the top-left
// corner, black elsewhere.
void expect_corner(buffer::Buffer& b, uint32_t w, uint32_t h, uint32_t seed) {
  auto m = b.map(false);
  ASSERT_TRUE(m);
  int wrong = 0;
  for (uint32_t y = 0; y < b.height(); ++y)
    for (uint32_t x = 0; x < b.width(); ++x) {
      uint32_t v;
      std::memcpy(&v, m->data() + size_t{y} * b.stride() + size_t{x} * 4, 4);
      const uint32_t want = x < w && y < h ? px(seed, x, y) : 0;
      if (v != want && wrong++ < 3) ADD_FAILURE() << "pixel " << x << "," << y << ": " << v << " != " << want;
    }
  EXPECT_EQ(wrong, 0);
}

TEST(ScanoutPool, SmallFramesLandTopLeftAndStaleRowsAreCleared) {
  auto alloc = buffer::create_memfd_allocator();
  ASSERT_TRUE(alloc);
  server::ScanoutPool pool(std::move(alloc.value()));
  auto slot = pool.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(slot);
  buffer::Buffer& b = *pool.buffer(*slot);

  // A full-size frame with the buffer's own stride: one memcpy.
  std::vector<uint32_t> full(size_t{b.stride() / 4} * kH);
  for (uint32_t y = 0; y < kH; ++y)
    for (uint32_t x = 0; x < b.stride() / 4; ++x) full[size_t{y} * (b.stride() / 4) + x] = x < kW ? px(1, x, y) : 0;
  auto n = pool.copy_into(*slot, reinterpret_cast<const uint8_t*>(full.data()), b.stride(), kW * 4, kH);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, uint64_t{b.stride()} * kH);
  expect_corner(b, kW, kH, 1);

  // Then a 20x10 window: top-left, and the rest of the big frame is gone.
  const auto small = frame(20, 10, 2);
  n = pool.copy_into(*slot, reinterpret_cast<const uint8_t*>(small.data()), 20 * 4, 20 * 4, 10);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 20u * 10u * 4u) << "the ledger counts the frame's bytes, not the clearing";
  expect_corner(b, 20, 10, 2);

  // A wider but shorter one, then a narrower but taller one.
  const auto wide = frame(40, 5, 3);
  ASSERT_TRUE(pool.copy_into(*slot, reinterpret_cast<const uint8_t*>(wide.data()), 40 * 4, 40 * 4, 5));
  expect_corner(b, 40, 5, 3);
  const auto tall = frame(8, 30, 4);
  ASSERT_TRUE(pool.copy_into(*slot, reinterpret_cast<const uint8_t*>(tall.data()), 8 * 4, 8 * 4, 30));
  expect_corner(b, 8, 30, 4);
}

TEST(ScanoutPool, AFrameLargerThanTheBufferIsRefused) {
  auto alloc = buffer::create_memfd_allocator();
  ASSERT_TRUE(alloc);
  server::ScanoutPool pool(std::move(alloc.value()));
  auto slot = pool.acquire(16, 16, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(slot);
  const auto big = frame(16, 17, 1);
  EXPECT_FALSE(pool.copy_into(*slot, reinterpret_cast<const uint8_t*>(big.data()), 16 * 4, 16 * 4, 17));
  // Rows longer than the buffer's stride.
  const uint32_t w = pool.buffer(*slot)->stride() / 4 + 1;
  const auto wide = frame(w, 16, 1);
  EXPECT_FALSE(pool.copy_into(*slot, reinterpret_cast<const uint8_t*>(wide.data()), w * 4, w * 4, 16));
}

}  // namespace
}  // namespace zc::test
