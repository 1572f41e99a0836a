#include "wire/socket_wire.h"

#include <fmt/core.h>

#include "common/format.h"

namespace zc::wire {
namespace {
// Explicit little-endian byte order, so the format does not depend on the
// host (and a learner can read the layout off the offsets below).
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
HeaderError error(StreamError e, std::string message) { return {static_cast<uint32_t>(e), std::move(message)}; }
}  // namespace

void encode_header(const SocketFrameHeader& h, uint8_t out[kSocketHeaderBytes]) {
  put32(out + 0, h.magic);
  put32(out + 4, h.version);
  put64(out + 8, h.seq);
  put32(out + 16, h.width);
  put32(out + 20, h.height);
  put32(out + 24, h.stride);
  put32(out + 28, h.format);
  put64(out + 32, h.byte_count);
}

SocketFrameHeader decode_header(const uint8_t in[kSocketHeaderBytes]) {
  SocketFrameHeader h;
  h.magic = get32(in + 0);
  h.version = get32(in + 4);
  h.seq = get64(in + 8);
  h.width = get32(in + 16);
  h.height = get32(in + 20);
  h.stride = get32(in + 24);
  h.format = get32(in + 28);
  h.byte_count = get64(in + 32);
  return h;
}

std::optional<HeaderError> validate_header(const SocketFrameHeader& h) {
  if (h.magic != kSocketMagic || h.version != kSocketVersion)
    return error(StreamError::bad_magic, fmt::format("frame header magic 0x{:08x} version {} (expected 0x{:08x} version {})",
                                                     h.magic, h.version, kSocketMagic, kSocketVersion));
  const FormatInfo* f = format_info(h.format);
  if (f == nullptr)
    return error(StreamError::bad_format, fmt::format("frame {} has unsupported format {}", h.seq, format_name(h.format)));
  if (h.width == 0 || h.height == 0 || h.width > 16384 || h.height > 16384)
    return error(StreamError::bad_size, fmt::format("frame {} has invalid size {}x{}", h.seq, h.width, h.height));
  if (uint64_t{h.stride} < uint64_t{h.width} * f->bytes_per_pixel)
    return error(StreamError::bad_size, fmt::format("frame {} stride {} is smaller than a row ({} bytes)", h.seq,
                                                    h.stride, uint64_t{h.width} * f->bytes_per_pixel));
  if (h.byte_count != uint64_t{h.stride} * h.height || h.byte_count > kMaxFrameBytes)
    return error(StreamError::bad_size, fmt::format("frame {} byte_count {} != stride {} x height {}", h.seq,
                                                    h.byte_count, h.stride, h.height));
  return std::nullopt;
}

}  // namespace zc::wire
