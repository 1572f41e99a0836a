#include "buffer/pattern.h"

#include <cstring>
#include <vector>

#include "common/format.h"

namespace zc::buffer {
namespace {

constexpr uint32_t kWhite = 0xffffffffu;
constexpr uint32_t kBlack = 0xff000000u;

uint32_t bpp_of(uint32_t format) {
  const FormatInfo* f = format_info(format);
  return f != nullptr ? f->bytes_per_pixel : 4;
}

// Writes one 32-bit pixel value in the buffer's byte order; for 24-bit formats
// the low three bytes (B, G, R in memory for DRM_FORMAT_RGB888).
inline void put(uint8_t* p, uint32_t bpp, uint32_t v) {
  if (bpp == 4) {
    std::memcpy(p, &v, 4);
  } else {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
    p[2] = static_cast<uint8_t>(v >> 16);
  }
}

inline uint32_t get(const uint8_t* p, uint32_t bpp) {
  uint32_t v = 0;
  std::memcpy(&v, p, bpp);
  return bpp == 4 ? v : (v | 0xff000000u);
}

void render_header(const PixelView& v, uint64_t n, uint32_t bpp) {
  const uint32_t block = v.width / kPatternBits;
  const uint32_t rows = v.height < kPatternHeaderRows ? v.height : kPatternHeaderRows;
  for (uint32_t y = 0; y < rows; ++y) {
    uint8_t* row = v.data + static_cast<size_t>(y) * v.stride;
    for (uint32_t x = 0; x < v.width; ++x) {
      const uint32_t bit = block ? x / block : kPatternBits;
      const bool on = bit < kPatternBits && ((n >> bit) & 1u) != 0;
      put(row + static_cast<size_t>(x) * bpp, bpp, on ? kWhite : kBlack);
    }
  }
}

// Below the header, pixel (x, y) of frame n is x_part[x] | y_part(y):
//   red   = (x + 4n) mod 256, or white on the 32-pixel bar at x = 16n mod W
//   green = (y + 4n) mod 256
//   blue  = n mod 256
// The red channel and the moving bar depend only on x: build that row part
// once per frame (the buffer is allocated once per thread, not per frame),
// then each row is one OR per pixel, which the compiler vectorizes.
const uint32_t* x_part(uint32_t width, uint64_t n) {
  const uint32_t shift = static_cast<uint32_t>(n * 4);
  const uint32_t bar = static_cast<uint32_t>((n * 16) % (width ? width : 1));
  thread_local std::vector<uint32_t> xpart;
  if (xpart.size() < width) xpart.resize(width);
  for (uint32_t x = 0; x < width; ++x) xpart[x] = 0xff000000u | (((x + shift) & 0xffu) << 16);
  for (uint32_t x = bar; x < width && x < bar + 32; ++x) xpart[x] = kWhite;
  return xpart.data();
}
inline uint32_t y_part(uint32_t y, uint64_t n) {
  const uint32_t shift = static_cast<uint32_t>(n * 4);
  return (((y + shift) & 0xffu) << 8) | (static_cast<uint32_t>(n) & 0xffu);
}

}  // namespace

void render_pattern_header(const PixelView& v, uint64_t n) { render_header(v, n, bpp_of(v.format)); }

void render_pattern(const PixelView& v, uint64_t n) {
  const uint32_t bpp = bpp_of(v.format);
  render_header(v, n, bpp);
  const uint32_t* xp = x_part(v.width, n);
  for (uint32_t y = kPatternHeaderRows; y < v.height; ++y) {
    uint8_t* row = v.data + static_cast<size_t>(y) * v.stride;
    const uint32_t ypart = y_part(y, n);
    if (bpp == 4) {
      auto* px = reinterpret_cast<uint32_t*>(row);  // stride is 4-byte aligned for 32-bit formats
      for (uint32_t x = 0; x < v.width; ++x) px[x] = xp[x] | ypart;
    } else {
      for (uint32_t x = 0; x < v.width; ++x) put(row + static_cast<size_t>(x) * bpp, bpp, xp[x] | ypart);
    }
  }
}

std::optional<uint32_t> decode_pattern(const ConstPixelView& v) {
  const uint32_t bpp = bpp_of(v.format);
  const uint32_t block = v.width / kPatternBits;
  if (block == 0 || v.height < kPatternHeaderRows) return std::nullopt;
  const uint8_t* row = v.data + static_cast<size_t>(kPatternHeaderRows / 2) * v.stride;
  uint32_t n = 0;
  for (uint32_t bit = 0; bit < kPatternBits; ++bit) {
    const uint32_t px = get(row + static_cast<size_t>(bit * block + block / 2) * bpp, bpp) & 0x00ffffffu;
    if (px == 0x00ffffffu) n |= 1u << bit;
    else if (px != 0) return std::nullopt;
  }
  return n;
}

namespace {

// The checksum, fed one row at a time: four independent lanes so the CPU can
// overlap the multiplies; the frame is read once, at memory bandwidth, and
// never written.
class RowHash {
 public:
  void row(const uint8_t* row, size_t row_bytes) {
    size_t i = 0;
    for (; i + 32 <= row_bytes; i += 32) {
      for (int k = 0; k < 4; ++k) {
        uint64_t w;
        std::memcpy(&w, row + i + 8 * k, 8);
        lane_[k] = (lane_[k] ^ w) * kMul;
      }
    }
    for (; i < row_bytes; ++i) lane_[0] = (lane_[0] ^ row[i]) * kMul;
  }
  uint64_t value() const {
    uint64_t h = lane_[0];
    for (int k = 1; k < 4; ++k) h = (h ^ (lane_[k] + (h << 6) + (h >> 2))) * kMul;
    return h;
  }

 private:
  static constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t lane_[4] = {1, 2, 3, 4};
};

}  // namespace

uint64_t checksum(const ConstPixelView& v) {
  RowHash h;
  const size_t row_bytes = static_cast<size_t>(v.width) * bpp_of(v.format);
  for (uint32_t y = 0; y < v.height; ++y) h.row(v.data + static_cast<size_t>(y) * v.stride, row_bytes);
  return h.value();
}

uint64_t pattern_checksum(uint32_t width, uint32_t height, uint32_t format, uint64_t n) {
  // The rows render_pattern would write, made one at a time in a reused row
  // buffer and hashed: the header row (the same for all header rows), then
  // each gradient row. No frame-sized memory is written or read.
  const uint32_t bpp = bpp_of(format);
  const uint32_t row_bytes = width * bpp;
  thread_local std::vector<uint8_t> row;
  if (row.size() < row_bytes) row.resize(row_bytes);
  RowHash h;
  render_header({row.data(), width, 1, row_bytes, format}, n, bpp);
  for (uint32_t y = 0; y < height && y < kPatternHeaderRows; ++y) h.row(row.data(), row_bytes);
  const uint32_t* xp = x_part(width, n);
  for (uint32_t y = kPatternHeaderRows; y < height; ++y) {
    const uint32_t ypart = y_part(y, n);
    for (uint32_t x = 0; x < width; ++x) put(row.data() + static_cast<size_t>(x) * bpp, bpp, xp[x] | ypart);
    h.row(row.data(), row_bytes);
  }
  return h.value();
}

}  // namespace zc::buffer
