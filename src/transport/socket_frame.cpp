#include "transport/socket_frame.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stats/ledger.h"
#include "stats/trace.h"

namespace zc::transport {

Result<void> write_frame(int fd, const wire::SocketFrameHeader& h, std::span<const uint8_t> pixels, uint32_t chunk,
                         stats::FrameLedger* ledger) {
  uint8_t header[wire::kSocketHeaderBytes];
  wire::encode_header(h, header);
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
                       h.seq, wire::kSocketHeaderBytes, total, chunk),
           total);
  if (ledger != nullptr) ledger->copy(total, "write(): client memory -> socket buffer (kernel copy)");
  return {};
}

}  // namespace zc::transport
