// check_shm_geometry: every way a wl_shm buffer can reach past its pool.
#include "server/shm_geometry.h"

#include <gtest/gtest.h>
#include <wayland-server-protocol.h>

#include <cstdint>

namespace zc::server {
namespace {

constexpr uint32_t kX = WL_SHM_FORMAT_XRGB8888;
constexpr uint32_t kRGB888 = 0x34324752u;  // 'RG24', 3 bytes per pixel

TEST(ShmGeometry, TightAndPaddedBuffersFit) {
  EXPECT_FALSE(check_shm_geometry(64, 64, 256, kX, 0, 64 * 256));
  EXPECT_FALSE(check_shm_geometry(64, 64, 512, kX, 4096, 4096 + 64 * 512));
  EXPECT_FALSE(check_shm_geometry(10, 2, 30, kRGB888, 0, 60));
  EXPECT_FALSE(check_shm_geometry(1, 1, 4, WL_SHM_FORMAT_ARGB8888, 0, 4));
}

// The hole libwayland 1.21 leaves: stride >= width (pixels) but < width x bpp.
TEST(ShmGeometry, StrideShorterThanARowIsInvalidStride) {
  const auto e = check_shm_geometry(4096, 2, 4096, kX, 0, 8192);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(WL_SHM_ERROR_INVALID_STRIDE));
  EXPECT_NE(e->message.find("4096"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("16384"), std::string::npos) << e->message;
  EXPECT_TRUE(check_shm_geometry(10, 2, 29, kRGB888, 0, 1000));
}

TEST(ShmGeometry, BufferPastThePoolEnd) {
  const auto e = check_shm_geometry(64, 64, 256, kX, 1, 64 * 256);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(WL_SHM_ERROR_INVALID_STRIDE));
  EXPECT_NE(e->message.find("16385"), std::string::npos) << e->message;
  EXPECT_TRUE(check_shm_geometry(64, 64, 256, kX, 0, 64 * 256 - 1));
}

TEST(ShmGeometry, NonPositiveValuesAndHugeOnesDoNotWrap) {
  EXPECT_TRUE(check_shm_geometry(0, 1, 4, kX, 0, 100));
  EXPECT_TRUE(check_shm_geometry(1, -1, 4, kX, 0, 100));
  EXPECT_TRUE(check_shm_geometry(1, 1, -4, kX, 0, 100));
  EXPECT_TRUE(check_shm_geometry(1, 1, 4, kX, -4, 100));
  EXPECT_TRUE(check_shm_geometry(INT32_MAX, 1, INT32_MAX, kX, 0, SIZE_MAX));  // row = 8 GiB > stride
  // stride x height > 2^32: must not wrap into a small number.
  EXPECT_TRUE(check_shm_geometry(1, INT32_MAX, INT32_MAX, kX, INT32_MAX, 1u << 30));
}

TEST(ShmGeometry, UnknownFormatIsInvalidFormat) {
  const auto e = check_shm_geometry(4, 4, 16, 0x3231564eu /* NV12 */, 0, 1000);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(WL_SHM_ERROR_INVALID_FORMAT));
  EXPECT_NE(e->message.find("0x3231564e"), std::string::npos) << e->message;
}

}  // namespace
}  // namespace zc::server
