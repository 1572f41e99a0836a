// The frame pattern: every frame the client renders encodes its own number,
// so the compositor (or a screendump of the display) can prove which frame
// was shown, and a checksum proves it arrived intact.
//
// Layout of frame N (W x H):
//   rows 0..15      32 blocks of W/32 pixels: block i is white when bit i of N
//                   is set, black otherwise (survives any RGB capture)
//   other rows      a colour gradient that scrolls with N, and a white bar
//                   that moves across the screen (so it looks animated)
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace zc::buffer {

constexpr uint32_t kPatternBits = 32;
constexpr uint32_t kPatternHeaderRows = 16;

struct PixelView {
  uint8_t* data;
  uint32_t width, height, stride, format;  // format: DRM fourcc
};
struct ConstPixelView {
  const uint8_t* data;
  uint32_t width, height, stride, format;
};

// Renders frame `n` (every pixel; cost ~ one memset of the frame).
void render_pattern(const PixelView& v, uint64_t n);
// Renders only the header rows (the frame number), for benchmarks that
// measure the pipeline without the cost of drawing.
void render_pattern_header(const PixelView& v, uint64_t n);
// Reads the frame number back from the header rows; nullopt if the header is
// not a valid pattern (a block neither black nor white).
std::optional<uint32_t> decode_pattern(const ConstPixelView& v);
// 64-bit checksum of the visible bytes (rows of width * bpp, padding
// excluded). Reads the frame; it does not copy it.
uint64_t checksum(const ConstPixelView& v);
// The checksum render_pattern(v, n) gives a frame of this size and format,
// computed without a frame: for a renderer whose pixels the CPU must not
// read (a GPU drew them), what the compositor's checksum of the shown buffer
// must equal.
uint64_t pattern_checksum(uint32_t width, uint32_t height, uint32_t format, uint64_t n);

}  // namespace zc::buffer
