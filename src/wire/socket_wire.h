// The socket baseline's wire format (protocol/zcpipe-socket-v1.xml): what
// crosses the data socket, byte for byte. A 40-byte header, then the pixels.
//
// Both sides speak it: the client's socket transport writes it
// (src/transport/socket_frame.*), the compositor's stream reads and checks it
// (src/server/socket_stream.cpp). So it lives here, below both, and depends
// on neither the client's nor the server's generated protocol header: the
// error codes the compositor sends are repeated below, and the client's
// socket transport checks at compile time that they match the XML.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace zc::wire {

constexpr uint32_t kSocketMagic = 0x4650435au;  // "ZCPF" in little-endian memory
constexpr uint32_t kSocketVersion = 1;
constexpr size_t kSocketHeaderBytes = 40;
// zcpipe_socket_manager_v1.get_stream's chunk_size: the bytes one write() or
// read() moves. The compositor refuses values outside [kMinChunk, kMaxChunk].
constexpr uint32_t kDefaultChunk = 64 * 1024;
constexpr uint32_t kMinChunk = 4096;
constexpr uint32_t kMaxChunk = 16 * 1024 * 1024;
constexpr uint64_t kMaxFrameBytes = 16384ull * 16384ull * 4ull;

// The header, in host form. On the wire every field is little-endian, in
// this order, with no padding: magic, version, seq (64), width, height,
// stride, format (DRM fourcc), byte_count (64).
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

// zcpipe_socket_stream_v1.error, with the values of the XML's <enum>.
enum class StreamError : uint32_t {
  bad_magic = 0,
  bad_format = 1,
  bad_size = 2,
  truncated = 3,
  bad_sequence = 4,
  too_many_frames = 5,
};

struct HeaderError {
  uint32_t code;  // a StreamError value, sent as the protocol error's code
  std::string message;
};
// Checks a received header: magic/version, known format, sizes consistent
// (stride >= width*bpp, byte_count == stride*height) and within limits.
std::optional<HeaderError> validate_header(const SocketFrameHeader& h);

}  // namespace zc::wire
