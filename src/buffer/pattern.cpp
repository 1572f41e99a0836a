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

}  // namespace

void render_pattern_header(const PixelView& v, uint64_t n) { render_header(v, n, bpp_of(v.format)); }

void render_pattern(const PixelView& v, uint64_t n) {
  const uint32_t bpp = bpp_of(v.format);
  render_header(v, n, bpp);
  const uint32_t shift = static_cast<uint32_t>(n * 4);
  const uint32_t bar = static_cast<uint32_t>((n * 16) % (v.width ? v.width : 1));
  // The red channel and the moving bar depend only on x: build that row part
  // once per frame (the buffer is allocated once per thread, not per frame),
  // then each row is one OR per pixel, which the compiler vectorizes.
  thread_local std::vector<uint32_t> xpart;
  if (xpart.size() < v.width) xpart.resize(v.width);
  for (uint32_t x = 0; x < v.width; ++x) xpart[x] = 0xff000000u | (((x + shift) & 0xffu) << 16);
  for (uint32_t x = bar; x < v.width && x < bar + 32; ++x) xpart[x] = kWhite;
  const uint32_t* xp = xpart.data();
  for (uint32_t y = kPatternHeaderRows; y < v.height; ++y) {
    uint8_t* row = v.data + static_cast<size_t>(y) * v.stride;
    const uint32_t ypart = (((y + shift) & 0xffu) << 8) | (static_cast<uint32_t>(n) & 0xffu);
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

uint64_t checksum(const ConstPixelView& v) {
  // Four independent lanes so the CPU can overlap the multiplies; the
  // frame is read once, at memory bandwidth, and never written.
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t lane[4] = {1, 2, 3, 4};
  const size_t row_bytes = static_cast<size_t>(v.width) * bpp_of(v.format);
  for (uint32_t y = 0; y < v.height; ++y) {
    const uint8_t* row = v.data + static_cast<size_t>(y) * v.stride;
    size_t i = 0;
    for (; i + 32 <= row_bytes; i += 32) {
      for (int k = 0; k < 4; ++k) {
        uint64_t w;
        std::memcpy(&w, row + i + 8 * k, 8);
        lane[k] = (lane[k] ^ w) * kMul;
      }
    }
    for (; i < row_bytes; ++i) lane[0] = (lane[0] ^ row[i]) * kMul;
  }
  uint64_t h = lane[0];
  for (int k = 1; k < 4; ++k) h = (h ^ (lane[k] + (h << 6) + (h >> 2))) * kMul;
  return h;
}

}  // namespace zc::buffer
