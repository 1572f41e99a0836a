// The socket baseline's writer: one frame through a UNIX stream socket, a
// header and then the pixels in fixed-size chunks. The bytes on the wire are
// described in wire/socket_wire.h (shared with the compositor's reader).
//
// This is the path the classic zero-copy articles count: every byte is
// copied by the CPU into the kernel's socket buffer by write(), and out of
// it again by read() on the other side.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "wire/socket_wire.h"

namespace zc::stats {
class FrameLedger;
}

namespace zc::transport {

// Chunks needed to move `bytes` when each transfer carries at most `chunk`:
// the articles' model, ceil(bytes / chunk).
constexpr uint64_t chunks_for(uint64_t bytes, uint64_t chunk) { return (bytes + chunk - 1) / chunk; }

// Writes the header (one write()) and then the pixels with write() calls of
// at most `chunk` bytes on a blocking socket. Reports the copy to the ledger
// (the kernel copies user memory into the socket buffer).
Result<void> write_frame(int fd, const wire::SocketFrameHeader& h, std::span<const uint8_t> pixels, uint32_t chunk,
                         stats::FrameLedger* ledger);

}  // namespace zc::transport
