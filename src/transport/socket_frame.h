// The socket baseline's wire format (protocol/zcpipe-socket-v1.xml): a
// 40-byte header, then the pixels, written in fixed-size chunks.
//
// This is the path the classic zero-copy articles count: every byte is
// copied by the CPU into the kernel's socket buffer by write(), and out of
// it again by read() on the other side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"

namespace zc::stats {
class FrameLedger;
}

namespace zc::transport {

constexpr uint32_t kSocketMagic = 0x4650435au;  // "ZCPF" in little-endian memory
constexpr uint32_t kSocketVersion = 1;
constexpr size_t kSocketHeaderBytes = 40;
constexpr uint32_t kDefaultChunk = 64 * 1024;
constexpr uint32_t kMinChunk = 4096;
constexpr uint32_t kMaxChunk = 16 * 1024 * 1024;
constexpr uint64_t kMaxFrameBytes = 16384ull * 16384ull * 4ull;

struct SocketFrameHeader {
  uint32_t magic = kSocketMagic;
  uint32_t version = kSocketVersion;
  uint64_t seq = 0;
  uint32_t width = 0, height = 0, stride = 0;
  uint32_t format = 0;
  uint64_t byte_count = 0;
};

void encode_header(const SocketFrameHeader& h, uint8_t out[kSocketHeaderBytes]);
SocketFrameHeader decode_header(const uint8_t in[kSocketHeaderBytes]);

struct HeaderError {
  uint32_t code;  // zcpipe_socket_stream_v1 error
  std::string message;
};
// Checks a received header: magic/version, known format, sizes consistent
// (stride >= width*bpp, byte_count == stride*height) and within limits.
std::optional<HeaderError> validate_header(const SocketFrameHeader& h);

// Chunks needed to move `bytes` when each transfer carries at most `chunk`:
// the articles' model, ceil(bytes / chunk).
constexpr uint64_t chunks_for(uint64_t bytes, uint64_t chunk) { return (bytes + chunk - 1) / chunk; }

// Client side: writes the header (one write()) and then the pixels with
// write() calls of at most `chunk` bytes on a blocking socket. Reports the
// copy to the ledger (the kernel copies user memory into the socket buffer).
Result<void> write_frame(int fd, const SocketFrameHeader& h, std::span<const uint8_t> pixels, uint32_t chunk,
                         stats::FrameLedger* ledger);

}  // namespace zc::transport
