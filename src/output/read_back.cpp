#include "output/read_back.h"

#include "buffer/overwrite_marker.h"
#include "buffer/pattern.h"
#include "common/log.h"
#include "stats/ledger.h"
#include "stats/trace.h"

namespace zc::output {

// Both reads run inside a stats::ScopedVerify: reading every pixel of a 4K
// frame twice per flip costs the CPU far more than the zero-copy pipeline
// does, and it is --verify's cost, not the pipeline's. The ledger reports it
// apart (verify_us, verify_syscalls), so the pipeline's own figure is what a
// run with --verify shows.
void read_back(buffer::Buffer& b, Presented& p) {
  stats::ScopedVerify verify;
  auto px = b.map(false);
  if (!px) {
    log::warn("verify: cannot map the shown buffer: {}", px.error().message());
    return;
  }
  // A dma-buf the GPU may still write: bracket the CPU read (DMA_BUF_IOCTL_SYNC).
  b.begin_cpu_access(false);
  const buffer::ConstPixelView v{px->data(), b.width(), b.height(), b.stride(), b.format()};
  p.checksum = buffer::checksum(v);
  p.decoded_frame = buffer::decode_pattern(v);
  b.end_cpu_access(false);
}

LastLook last_look(buffer::Buffer& b) {
  stats::ScopedVerify verify;
  LastLook l;
  auto px = b.map(false);
  if (!px) return l;  // read_back() said why when the buffer was shown
  b.begin_cpu_access(false);
  const buffer::ConstPixelView v{px->data(), b.width(), b.height(), b.stride(), b.format()};
  l.checksum = buffer::checksum(v);
  l.marker = buffer::read_marker(v);
  b.end_cpu_access(false);
  return l;
}

void LeavingWitness::leaving(buffer::Buffer& b) {
  if (!checksum_) return;  // not read when shown (unmappable): nothing to compare with
  const LastLook l = last_look(b);
  if (l.checksum && *l.checksum != *checksum_) rewritten_++;
  if (!frame_) return;  // a frame without a readable number: nothing to compare the marker with
  frames_++;
  const bool seen = l.marker && (*l.marker & 0xffffffffu) == *frame_;
  if (seen) marker_seen_++;
  ZC_TRACE(fmt::format("--verify, last look at frame {} before it leaves the screen: {}", *frame_,
                       seen ? "the client's overwrite marker is there: this display reads the client's own memory"
                            : "no overwrite marker for it: what the display shows is not the client's memory "
                              "(or the client wrote none)"),
           0);
  checksum_.reset();
  frame_.reset();
}

}  // namespace zc::output
