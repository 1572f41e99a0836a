// --verify: the display-CRC stand-in, shared by every output.
//
// Real display engines can compute a CRC of what they scan out; zcpipe's
// outputs instead read (never copy) the buffer the display shows, after the
// flip, and record its checksum and the frame number its pattern encodes.
// The demo compares both with what the client rendered.
//
// What these reads cost is --verify's, kept out of the pipeline's figures
// (stats::ScopedVerify): the ledger reports it as verify_us / verify_syscalls.
//
// Two ways to read a buffer (the frame's verify_read in the JSON):
//
//   mmap     the CPU maps the dma-buf itself (Buffer::map, bracketed by
//            DMA_BUF_IOCTL_SYNC) and reads its bytes in memory order. Right
//            for memory the CPU wrote (shm, the output's own copies, a cpu
//            renderer's LINEAR buffer) and for any buffer whose only copy
//            is that memory.
//   gbm_map  the driver maps it (gbm_bo_import once per buffer, then
//            gbm_bo_map(GBM_BO_TRANSFER_READ) per verified frame). Needed
//            for a GPU's buffer, for two reasons mmap cannot see:
//              - tiling and compression: an Intel Y-tiled or AMD DCC buffer
//                is not in row order; the driver detiles (a blit into a
//                linear staging buffer) and hands back that copy with its
//                own stride;
//              - memory the CPU cannot see: on virtio-gpu with virgl the
//                GPU that drew the buffer is the host's; the guest's pages
//                behind the dma-buf are a copy the host never updates.
//                Mesa's virgl driver asks the host for the pixels
//                (VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D) before it maps.
//            The map is a transfer, not a window onto the scanned-out
//            memory: it costs a copy, which is --verify's own and optional.
#pragma once

#include "buffer/buffer.h"
#include "buffer/pattern.h"
#include "common/result.h"
#include "output/output.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zc::output {

// One buffer imported into a driver for reading (a gbm_bo): made once per
// buffer and kept with it (KMS: in the framebuffer cache), mapped per
// verified frame.
class DriverImage {
 public:
  virtual ~DriverImage() = default;
  // A linear view of the pixels, valid until unmap(). An error: the driver
  // could not (the caller reads by mmap, or not at all).
  virtual Result<buffer::ConstPixelView> map() = 0;
  virtual void unmap() = 0;
};

// The driver behind an output's DRM device, as --verify needs it: a seam so
// the unit tests (fake libdrm, no GPU) can stand in for GBM.
class DriverReader {
 public:
  virtual ~DriverReader() = default;
  virtual Result<std::unique_ptr<DriverImage>> import(const buffer::Buffer& b) = 0;
};

// GBM on the DRM device behind `drm_fd` (opened again, as a file of its own:
// see read_back.cpp). An error: no GBM there; --verify then reads by mmap.
Result<std::unique_ptr<DriverReader>> make_gbm_reader(int drm_fd);

// Fills p.checksum, p.decoded_frame and p.verify_read from `shown`, through
// `driver` when given (a GPU's buffer), else (or if the driver fails) by
// mmap; leaves them unset (and says why) if neither may read the buffer: a
// tiled or compressed buffer is never read as if it were linear.
void read_back(buffer::Buffer& shown, Presented& p, DriverImage* driver = nullptr);

// The display's last look at a buffer as it leaves the screen (--verify):
// its checksum now (it must equal the one taken when it was shown, unless
// someone wrote into a buffer the display was reading) and the overwrite
// marker found in it, if any (buffer/overwrite_marker.h). Unset fields: the
// buffer could not be mapped.
struct LastLook {
  std::optional<uint64_t> checksum;
  std::optional<uint64_t> marker;
};
LastLook last_look(buffer::Buffer& leaving, DriverImage* driver = nullptr);

// --verify's second read of a frame, as it leaves the screen, for every
// output that scans buffers out (headless, kms):
//  - What a display CRC would catch as tearing: the buffer leaving the
//    screen must still hold the frame it was shown with (nothing may write
//    a buffer the display reads, from presented to released).
//  - The overwrite experiment (buffer/overwrite_marker.h, and the client's
//    --overwrite-proof): a client may have written a marker naming this
//    frame into the buffer it committed, after the frame was shown. Found
//    here only if what the display shows IS the client's buffer. The
//    client's write happens before it commits the frame that causes the
//    flip that replaces it, so this read cannot run ahead of it (client.cpp,
//    overwrite_after_shown, has the whole sequence).
class LeavingWitness {
 public:
  // At the flip that shows a frame: what read_back() found in it.
  void shown(const Presented& p) {
    checksum_ = p.checksum;
    frame_ = p.decoded_frame;
  }
  // At the flip that replaces it, before its buffer is released: `leaving`
  // is the buffer the display read for that frame; `driver`, as for
  // read_back().
  void leaving(buffer::Buffer& leaving, DriverImage* driver = nullptr);
  std::vector<std::pair<std::string, uint64_t>> counters() const {
    return {{"shown_buffer_rewritten", rewritten_},
            {"overwrite_proof_frames", frames_},
            {"overwrite_proof_marker_seen_frames", marker_seen_}};
  }

 private:
  std::optional<uint64_t> checksum_;  // the frame on screen, when it was shown
  std::optional<uint32_t> frame_;     // its frame number, read from its pixels
  uint64_t rewritten_ = 0;
  uint64_t frames_ = 0;       // outgoing frames looked at for the overwrite marker
  uint64_t marker_seen_ = 0;  // ... and found to carry their own marker
};

}  // namespace zc::output
