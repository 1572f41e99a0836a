#include "output/read_back.h"

#include "buffer/overwrite_marker.h"
#include "buffer/pattern.h"
#include "common/log.h"

namespace zc::output {

void read_back(buffer::Buffer& b, Presented& p) {
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

}  // namespace zc::output
