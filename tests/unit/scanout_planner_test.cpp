// ScanoutPlanner: the compositor-owned buffers the copying transports fill,
// handed out as leases.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "buffer/allocator.h"
#include "buffer/scanout_planner.h"

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

TEST(ScanoutPlanner, SmallFramesLandTopLeftAndStaleRowsAreCleared) {
  auto alloc = buffer::create_memfd_allocator();
  ASSERT_TRUE(alloc);
  buffer::ScanoutPlanner planner(std::move(alloc.value()));
  auto lease = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(lease);
  buffer::Buffer& b = lease->buffer();

  // A full-size frame with the buffer's own stride: one memcpy.
  std::vector<uint32_t> full(size_t{b.stride() / 4} * kH);
  for (uint32_t y = 0; y < kH; ++y)
    for (uint32_t x = 0; x < b.stride() / 4; ++x) full[size_t{y} * (b.stride() / 4) + x] = x < kW ? px(1, x, y) : 0;
  auto n = lease->copy_into(reinterpret_cast<const uint8_t*>(full.data()), b.stride(), kW * 4, kH);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, uint64_t{b.stride()} * kH);
  expect_corner(b, kW, kH, 1);

  // Then a 20x10 window: top-left, and the rest of the big frame is gone.
  const auto small = frame(20, 10, 2);
  n = lease->copy_into(reinterpret_cast<const uint8_t*>(small.data()), 20 * 4, 20 * 4, 10);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 20u * 10u * 4u) << "the ledger counts the frame's bytes, not the clearing";
  expect_corner(b, 20, 10, 2);

  // A wider but shorter one, then a narrower but taller one.
  const auto wide = frame(40, 5, 3);
  ASSERT_TRUE(lease->copy_into(reinterpret_cast<const uint8_t*>(wide.data()), 40 * 4, 40 * 4, 5));
  expect_corner(b, 40, 5, 3);
  const auto tall = frame(8, 30, 4);
  ASSERT_TRUE(lease->copy_into(reinterpret_cast<const uint8_t*>(tall.data()), 8 * 4, 8 * 4, 30));
  expect_corner(b, 8, 30, 4);
}

TEST(ScanoutPlanner, AFrameLargerThanTheBufferIsRefused) {
  auto alloc = buffer::create_memfd_allocator();
  ASSERT_TRUE(alloc);
  buffer::ScanoutPlanner planner(std::move(alloc.value()));
  auto lease = planner.acquire(16, 16, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(lease);
  const auto big = frame(16, 17, 1);
  EXPECT_FALSE(lease->copy_into(reinterpret_cast<const uint8_t*>(big.data()), 16 * 4, 16 * 4, 17));
  // Rows longer than the buffer's stride.
  const uint32_t w = lease->buffer().stride() / 4 + 1;
  const auto wide = frame(w, 16, 1);
  EXPECT_FALSE(lease->copy_into(reinterpret_cast<const uint8_t*>(wide.data()), w * 4, w * 4, 16));
}

buffer::ScanoutPlanner make_planner(buffer::ScanoutLimits limits = {}) {
  auto alloc = buffer::create_memfd_allocator();
  if (!alloc) throw std::runtime_error(alloc.error().message());
  return buffer::ScanoutPlanner(std::move(alloc.value()), limits);
}

// A buffer is handed out again only once its lease ended.
TEST(ScanoutPlanner, ALeasedBufferIsNeverHandedOutTwice) {
  auto planner = make_planner();
  auto a = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  auto b = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(a && b);
  EXPECT_NE(&a->buffer(), &b->buffer());
  buffer::Buffer* first = &a->buffer();
  a->reset();
  auto c = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(c);
  EXPECT_EQ(&c->buffer(), first) << "the idle buffer is reused, not a new one allocated";
  EXPECT_EQ(planner.stats().allocations, 2u);
  EXPECT_EQ(planner.stats().leased, 2u);
}

// The old bug: freeing idle buffers of another size shifted integer slot
// indexes under the frames in flight. A lease names its buffer, not a
// position: whatever is freed, it keeps the buffer it was given, and ending
// it never frees or releases another one.
TEST(ScanoutPlanner, SizeChangesNeverTouchALeasedBuffer) {
  auto planner = make_planner();
  auto shown = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);  // size 1, on screen
  ASSERT_TRUE(shown);
  auto next = planner.acquire(kW / 2, kH / 2, DRM_FORMAT_XRGB8888);  // size 2, queued
  ASSERT_TRUE(next);
  buffer::Buffer* on_screen = &next->buffer();
  shown->reset();  // flip: size 1 leaves the screen; of the old size, so freed at once
  EXPECT_EQ(planner.stats().buffers, 1u);
  EXPECT_EQ(planner.stats().frees, 1u);
  // Another size-2 frame while `next` is on screen: it must get another buffer.
  auto third = planner.acquire(kW / 2, kH / 2, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(third);
  EXPECT_NE(&third->buffer(), on_screen) << "a frame was given the buffer on screen";
  next->reset();  // flip
  // ...and the next frame reuses the one that just left the screen.
  auto fourth = planner.acquire(kW / 2, kH / 2, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(&fourth->buffer(), on_screen);
  EXPECT_NE(&fourth->buffer(), &third->buffer());
  EXPECT_EQ(planner.stats().buffers, 2u);
}

// The compositor's copy (a 24-bit baseline frame, RGB888) and the KMS
// output's conversion of it (XRGB8888) share one planner, every frame. Each
// user's shape is remembered on its own: neither frees the other's idle
// buffers, so after the first frames nothing is allocated any more.
TEST(ScanoutPlanner, TwoUsersDoNotFreeEachOthersBuffers) {
  auto planner = make_planner();
  for (int frame = 0; frame < 6; ++frame) {
    auto copy = planner.acquire(kW, kH, DRM_FORMAT_RGB888, buffer::ScanoutUser::compositor);
    auto converted = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888, buffer::ScanoutUser::output);
    ASSERT_TRUE(copy && converted);
  }
  EXPECT_EQ(planner.stats().allocations, 2u);
  EXPECT_EQ(planner.stats().frees, 0u);
  // One user changing its size frees its own old buffer, not the other's.
  auto smaller = planner.acquire(kW / 2, kH / 2, DRM_FORMAT_RGB888, buffer::ScanoutUser::compositor);
  ASSERT_TRUE(smaller);
  EXPECT_EQ(planner.stats().frees, 1u);
  EXPECT_EQ(planner.stats().buffers, 2u);
}

TEST(ScanoutPlanner, IdleBuffersAreGivenBack) {
  auto planner = make_planner();
  {
    auto a = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
    auto b = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(planner.stats().bytes, 2 * uint64_t{a->buffer().stride()} * kH);
  }
  // Both leases ended: same size as asked last, so kept as spares...
  EXPECT_EQ(planner.stats().buffers, 2u);
  const uint64_t peak = planner.stats().peak_bytes;
  // ...until release_idle() (a surface unmapped).
  planner.release_idle();
  EXPECT_EQ(planner.stats().buffers, 0u);
  EXPECT_EQ(planner.stats().bytes, 0u);
  EXPECT_EQ(planner.stats().peak_bytes, peak);
  EXPECT_EQ(planner.stats().frees, 2u);
}

TEST(ScanoutPlanner, LimitsAreEnforced) {
  buffer::ScanoutLimits limits;
  limits.max_buffer_bytes = uint64_t{kW} * kH * 4;
  limits.max_buffers = 2;
  auto planner = make_planner(limits);
  auto too_big = planner.acquire(kW, kH + 1, DRM_FORMAT_XRGB8888);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, EFBIG) << too_big.error().message();
  EXPECT_EQ(planner.stats().allocations, 0u) << "refused before allocating anything";
  auto a = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  auto b = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  ASSERT_TRUE(a && b);
  auto c = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, EBUSY);
  const auto s = planner.stats();
  EXPECT_EQ(s.refused_too_large, 1u);
  EXPECT_EQ(s.refused_busy, 1u);
  // The real limit holds a full 8K UHD frame and refuses an 8192x8192 one.
  EXPECT_GE(buffer::kMaxScanoutBufferBytes, uint64_t{7680} * 4320 * 4);
  EXPECT_LT(buffer::kMaxScanoutBufferBytes, uint64_t{8192} * 8192 * 4);
}

// A lease may outlive its planner (the compositor tears down in some order):
// ending it then is harmless, and the buffer stays valid while held.
TEST(ScanoutPlanner, ALeaseMayOutliveItsPlanner) {
  buffer::ScanoutLease lease;
  {
    auto planner = make_planner();
    auto l = planner.acquire(kW, kH, DRM_FORMAT_XRGB8888);
    ASSERT_TRUE(l);
    lease = std::move(*l);
    EXPECT_FALSE(*l) << "moved-from lease is empty";
  }
  ASSERT_TRUE(lease);
  const auto f = frame(kW, kH, 5);
  EXPECT_TRUE(lease.copy_into(reinterpret_cast<const uint8_t*>(f.data()), kW * 4, kW * 4, kH));
  lease.reset();
  EXPECT_FALSE(lease);
}

}  // namespace
}  // namespace zc::test
