// How the cpu renderer's writes reach a buffer (buffer::CpuWritePath): through
// the buffer's one mapping (mmap), or, where that mapping is only a copy of
// the buffer (GBM on virgl), through the driver's map each frame (gbm_map).
// A fake buffer stands in for the driver's map: it hands out memory with a
// stride of its own, as a staging copy may, and counts maps and unmaps.
#include <drm_fourcc.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "buffer/allocator.h"
#include "buffer/pattern.h"
#include "client/renderer.h"

namespace zc {
namespace {

constexpr uint32_t kW = 64, kH = 32, kFormat = DRM_FORMAT_XRGB8888;
constexpr uint64_t kVisible = uint64_t{kW} * kH * 4;

buffer::Dmabuf make_desc() {
  buffer::Dmabuf d;
  d.width = kW;
  d.height = kH;
  d.format = kFormat;
  d.num_planes = 1;
  d.planes[0].stride = kW * 4;  // no fd: mapping this buffer's own memory must never be tried
  return d;
}

class DriverMappedBuffer final : public buffer::Buffer {
 public:
  DriverMappedBuffer() : Buffer(make_desc(), buffer::Kind::dmabuf), pixels(size_t{kStride} * kH, 0xAA) {}
  buffer::CpuWritePath cpu_write_path() const override { return buffer::CpuWritePath::gbm_map; }
  Result<buffer::CpuWriteView> begin_cpu_write() override {
    if (fail) return Error{EIO, "gbm_bo_map failed"};
    ++maps;
    open = true;
    return buffer::CpuWriteView{pixels.data(), kStride};
  }
  void end_cpu_write() override {
    ++unmaps;
    open = false;
  }
  static constexpr uint32_t kStride = kW * 4 + 256;  // the driver's stride, not the buffer's
  std::vector<uint8_t> pixels;
  int maps = 0, unmaps = 0;
  bool open = false, fail = false;
};

TEST(CpuWritePath, Names) {
  EXPECT_STREQ(buffer::cpu_write_path_name(buffer::CpuWritePath::mmap), "mmap");
  EXPECT_STREQ(buffer::cpu_write_path_name(buffer::CpuWritePath::gbm_map), "gbm_map");
}

TEST(CpuWritePath, DriverMapOncePerFrameWithItsStride) {
  auto cpu = client::make_cpu_renderer(client::Render::full, true);
  DriverMappedBuffer b;
  for (uint64_t n : {5u, 6u}) {
    ASSERT_TRUE(cpu->render(b, n));
    // The frame was written into the driver's map, rows at the map's stride.
    EXPECT_EQ(buffer::decode_pattern({b.pixels.data(), kW, kH, DriverMappedBuffer::kStride, kFormat}),
              std::optional<uint32_t>{static_cast<uint32_t>(n)});
    auto sum = cpu->checksum(b, n);
    ASSERT_TRUE(sum);
    ASSERT_TRUE(sum->has_value());
    EXPECT_EQ(**sum, buffer::pattern_checksum(kW, kH, kFormat, n));
    // Written and read (for the checksum, while mapped): twice the visible bytes.
    EXPECT_EQ(cpu->take_cpu_touched_bytes(), 2 * kVisible);
  }
  EXPECT_EQ(b.maps, 2);
  EXPECT_EQ(b.unmaps, 2);
  EXPECT_FALSE(b.open);
  EXPECT_FALSE(b.mapped());  // the buffer's own CPU mapping was never made
  // A frame not drawn into this buffer: its checksum is not known, not read.
  auto other = cpu->checksum(b, 7);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_value());
}

TEST(CpuWritePath, DriverMapWithoutChecksumsReadsNothing) {
  auto cpu = client::make_cpu_renderer(client::Render::full, false);
  DriverMappedBuffer b;
  ASSERT_TRUE(cpu->render(b, 3));
  EXPECT_EQ(cpu->take_cpu_touched_bytes(), kVisible);
  auto sum = cpu->checksum(b, 3);
  ASSERT_TRUE(sum);
  EXPECT_FALSE(sum->has_value());
}

TEST(CpuWritePath, DriverMapFailureIsAnErrorAndNothingToUnmap) {
  auto cpu = client::make_cpu_renderer(client::Render::full, true);
  DriverMappedBuffer b;
  b.fail = true;
  auto r = cpu->render(b, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("gbm_bo_map"), std::string::npos) << r.error().message();
  EXPECT_EQ(b.unmaps, 0);
}

TEST(CpuWritePath, MemfdWritesThroughItsMapping) {
  auto alloc = buffer::create_memfd_allocator();
  ASSERT_TRUE(alloc) << alloc.error().message();
  auto b = (*alloc)->allocate(kW, kH, kFormat, {});
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ((*b)->cpu_write_path(), buffer::CpuWritePath::mmap);
  auto cpu = client::make_cpu_renderer(client::Render::full);
  ASSERT_TRUE(cpu->render(**b, 9));
  auto sum = cpu->checksum(**b, 9);
  ASSERT_TRUE(sum);
  ASSERT_TRUE(sum->has_value());
  EXPECT_EQ(**sum, buffer::pattern_checksum(kW, kH, kFormat, 9));
  EXPECT_EQ(cpu->take_cpu_touched_bytes(), 2 * kVisible);
}

}  // namespace
}  // namespace zc
