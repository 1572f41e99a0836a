#include "transport/socket_frame.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/format.h"
#include "stats/ledger.h"
#include "stats/trace.h"
#include "zcpipe-socket-v1-client-protocol.h"

namespace zc::transport {
namespace {
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
    return HeaderError{ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_MAGIC,
                       fmt::format("frame header magic 0x{:08x} version {} (expected 0x{:08x} version {})", h.magic,
                                   h.version, kSocketMagic, kSocketVersion)};
  const FormatInfo* f = format_info(h.format);
  if (f == nullptr)
    return HeaderError{ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_FORMAT,
                       fmt::format("frame {} has unsupported format {}", h.seq, format_name(h.format))};
  if (h.width == 0 || h.height == 0 || h.width > 16384 || h.height > 16384)
    return HeaderError{ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE,
                       fmt::format("frame {} has invalid size {}x{}", h.seq, h.width, h.height)};
  if (uint64_t{h.stride} < uint64_t{h.width} * f->bytes_per_pixel)
    return HeaderError{ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE,
                       fmt::format("frame {} stride {} is smaller than a row ({} bytes)", h.seq, h.stride,
                                   uint64_t{h.width} * f->bytes_per_pixel)};
  if (h.byte_count != uint64_t{h.stride} * h.height || h.byte_count > kMaxFrameBytes)
    return HeaderError{ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE,
                       fmt::format("frame {} byte_count {} != stride {} x height {}", h.seq, h.byte_count, h.stride,
                                   h.height)};
  return std::nullopt;
}

Result<void> write_frame(int fd, const SocketFrameHeader& h, std::span<const uint8_t> pixels, uint32_t chunk,
                         stats::FrameLedger* ledger) {
  uint8_t header[kSocketHeaderBytes];
  encode_header(h, header);
  // The header goes in its own write(): one call more than the model's
  // ceil(bytes / chunk), and it keeps every pixel write exactly chunk-sized.
  size_t done = 0;
  while (done < sizeof header) {
    const ssize_t n = ::write(fd, header + done, sizeof header - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::from_errno("write frame header to the data socket");
    done += static_cast<size_t>(n);
  }
  const size_t total = static_cast<size_t>(h.byte_count);
  done = 0;
  while (done < total) {
    const size_t len = std::min<size_t>(chunk, total - done);
    // The kernel copies these bytes from our memory into the socket buffer:
    // a CPU copy, paid for by this process (it shows up as system time).
    const ssize_t n = ::write(fd, pixels.data() + done, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::from_errno(fmt::format("write frame {} to the data socket", h.seq));
    done += static_cast<size_t>(n);
  }
  ZC_TRACE(fmt::format("frame {} written: a {}-byte header, then {} bytes in write()s of at most {} bytes; the kernel copied each into the socket buffer (CPU copy 1 of 3)",
                       h.seq, kSocketHeaderBytes, total, chunk),
           total);
  if (ledger != nullptr) ledger->copy(total, "write(): client memory -> socket buffer (kernel copy)");
  return {};
}

}  // namespace zc::transport
