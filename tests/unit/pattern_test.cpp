// The frame pattern (buffer/pattern.h): a frame carries its own number, and
// the checksum covers exactly the visible bytes.
#include <drm_fourcc.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "buffer/pattern.h"
#include "common/format.h"

namespace zc::buffer {
namespace {

// One frame in ordinary memory, with a chosen stride and padding fill.
struct Frame {
  uint32_t width, height, stride, format;
  std::vector<uint8_t> bytes;

  Frame(uint32_t w, uint32_t h, uint32_t fmt, uint32_t padding = 0, uint8_t fill = 0)
      : width(w), height(h), format(fmt) {
    stride = w * format_info(fmt)->bytes_per_pixel + padding;
    bytes.assign(static_cast<size_t>(stride) * h, fill);
  }
  PixelView view() { return {bytes.data(), width, height, stride, format}; }
  ConstPixelView cview() const { return {bytes.data(), width, height, stride, format}; }
  uint32_t bpp() const { return format_info(format)->bytes_per_pixel; }
  uint8_t* pixel(uint32_t x, uint32_t y) { return bytes.data() + static_cast<size_t>(y) * stride + x * bpp(); }
};

struct Geometry {
  uint32_t width, height, format, padding;
};

std::string name_of(const Geometry& g) {
  return std::string(format_name(g.format)) + "_" + std::to_string(g.width) + "x" + std::to_string(g.height) +
         "_pad" + std::to_string(g.padding);
}

class PatternRoundTrip : public ::testing::TestWithParam<Geometry> {};

TEST_P(PatternRoundTrip, DecodeGivesBackTheFrameNumber) {
  const Geometry g = GetParam();
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{0x55555555}, (uint64_t{1} << 31) + 5,
                     uint64_t{0xffffffff}}) {
    Frame f(g.width, g.height, g.format, g.padding, 0x5a);
    render_pattern(f.view(), n);
    const auto decoded = decode_pattern(f.cview());
    ASSERT_TRUE(decoded.has_value()) << "frame " << n;
    EXPECT_EQ(*decoded, static_cast<uint32_t>(n)) << "frame " << n;

    Frame h(g.width, g.height, g.format, g.padding, 0xa5);
    render_pattern_header(h.view(), n);
    const auto header_only = decode_pattern(h.cview());
    ASSERT_TRUE(header_only.has_value()) << "header-only frame " << n;
    EXPECT_EQ(*header_only, static_cast<uint32_t>(n)) << "header-only frame " << n;
  }
}

TEST_P(PatternRoundTrip, ChecksumDiffersBetweenConsecutiveFrames) {
  const Geometry g = GetParam();
  uint64_t previous = 0;
  for (uint64_t n = 0; n < 6; ++n) {
    Frame f(g.width, g.height, g.format, g.padding);
    render_pattern(f.view(), n);
    const uint64_t sum = checksum(f.cview());
    if (n > 0) {
      EXPECT_NE(sum, previous) << "frames " << n - 1 << " and " << n;
    }
    previous = sum;
  }
}

TEST_P(PatternRoundTrip, ChecksumIgnoresPaddingContentAndStride) {
  const Geometry g = GetParam();
  Frame zeros(g.width, g.height, g.format, g.padding, 0x00);
  Frame ones(g.width, g.height, g.format, g.padding, 0xff);
  Frame tight(g.width, g.height, g.format, 0, 0x33);
  for (Frame* f : {&zeros, &ones, &tight}) render_pattern(f->view(), 42);
  const uint64_t a = checksum(zeros.cview());
  EXPECT_EQ(checksum(ones.cview()), a) << "padding bytes must not count";
  EXPECT_EQ(checksum(tight.cview()), a) << "the same pixels at another stride must give the same checksum";
}

TEST_P(PatternRoundTrip, ChecksumSeesOneChangedVisibleByte) {
  const Geometry g = GetParam();
  Frame f(g.width, g.height, g.format, g.padding);
  render_pattern(f.view(), 7);
  const uint64_t before = checksum(f.cview());
  // The last byte of the last visible pixel: the tail of the last row.
  f.pixel(g.width - 1, g.height - 1)[f.bpp() - 1] ^= 0x01;
  EXPECT_NE(checksum(f.cview()), before);
}

// The gl renderer's checksum is computed without reading the GPU's pixels:
// it must equal the checksum of the frame the CPU draws, for every frame
// (the bar and the gradients move with n) and not for a neighbour.
TEST_P(PatternRoundTrip, ChecksumWithoutAFrameEqualsTheRenderedFramesChecksum) {
  const Geometry g = GetParam();
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{63}, uint64_t{1000}, uint64_t{0xffffffff}}) {
    Frame f(g.width, g.height, g.format, g.padding, 0x77);
    render_pattern(f.view(), n);
    EXPECT_EQ(pattern_checksum(g.width, g.height, g.format, n), checksum(f.cview())) << "frame " << n;
    EXPECT_NE(pattern_checksum(g.width, g.height, g.format, n + 1), checksum(f.cview())) << "frame " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, PatternRoundTrip,
                         ::testing::Values(Geometry{64, 32, DRM_FORMAT_XRGB8888, 0},
                                           Geometry{640, 480, DRM_FORMAT_XRGB8888, 64},
                                           Geometry{100, 20, DRM_FORMAT_XRGB8888, 12},  // 100 % 32 != 0
                                           Geometry{33, 16, DRM_FORMAT_ARGB8888, 4},
                                           Geometry{64, 32, DRM_FORMAT_RGB888, 0},
                                           Geometry{101, 17, DRM_FORMAT_RGB888, 4},  // odd stride 307
                                           Geometry{640, 480, DRM_FORMAT_RGB888, 7}),  // odd stride 1927
                         [](const ::testing::TestParamInfo<Geometry>& i) { return name_of(i.param); });

TEST(Pattern, FramesDifferingInOneBitDecodeDifferently) {
  for (uint32_t bit = 0; bit < kPatternBits; ++bit) {
    Frame f(64, 16, DRM_FORMAT_XRGB8888);
    render_pattern_header(f.view(), uint64_t{1} << bit);
    const auto d = decode_pattern(f.cview());
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, 1u << bit);
  }
}

TEST(Pattern, DecodeRejectsAGreyBlock) {
  Frame f(64, 32, DRM_FORMAT_XRGB8888);
  render_pattern(f.view(), 0x1234);
  ASSERT_EQ(decode_pattern(f.cview()), std::optional<uint32_t>(0x1234));
  // Block 5 is 2 px wide (64 / 32); decode samples its middle on row 8.
  const uint32_t grey = 0xff808080u;
  std::memcpy(f.pixel(5 * 2 + 1, kPatternHeaderRows / 2), &grey, 4);
  EXPECT_FALSE(decode_pattern(f.cview()).has_value());
}

TEST(Pattern, DecodeRejectsACorruptedRgb888Header) {
  Frame f(96, 16, DRM_FORMAT_RGB888, 3);
  render_pattern(f.view(), 0xffffffffu);
  ASSERT_EQ(decode_pattern(f.cview()), std::optional<uint32_t>(0xffffffffu));
  f.pixel(31 * 3 + 1, kPatternHeaderRows / 2)[1] = 0x7f;  // one channel of the last block
  EXPECT_FALSE(decode_pattern(f.cview()).has_value());
}

TEST(Pattern, DecodeRejectsFramesTooSmallToCarryANumber) {
  Frame narrow(31, 32, DRM_FORMAT_XRGB8888);  // fewer than one pixel per bit
  render_pattern(narrow.view(), 3);
  EXPECT_FALSE(decode_pattern(narrow.cview()).has_value());
  Frame short_frame(64, kPatternHeaderRows - 1, DRM_FORMAT_XRGB8888);
  render_pattern(short_frame.view(), 3);
  EXPECT_FALSE(decode_pattern(short_frame.cview()).has_value());
}

TEST(Pattern, BlankMemoryIsNotFrameZeroUnlessRendered) {
  // All-zero memory has black pixels with a zero alpha byte: decode masks
  // alpha, so it reads as frame 0. A frame that was never rendered therefore
  // cannot be told from frame 0 by the header alone — the checksum can.
  Frame blank(64, 32, DRM_FORMAT_XRGB8888);
  Frame zero(64, 32, DRM_FORMAT_XRGB8888);
  render_pattern(zero.view(), 0);
  EXPECT_NE(checksum(blank.cview()), checksum(zero.cview()));
}

}  // namespace
}  // namespace zc::buffer
