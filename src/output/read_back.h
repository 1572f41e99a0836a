// --verify: the display-CRC stand-in, shared by every output.
//
// Real display engines can compute a CRC of what they scan out; zcpipe's
// outputs instead read (never copy) the buffer the display shows, after the
// flip, and record its checksum and the frame number its pattern encodes.
// The demo compares both with what the client rendered.
//
// What these reads cost is --verify's, kept out of the pipeline's figures
// (stats::ScopedVerify): the ledger reports it as verify_us / verify_syscalls.
#pragma once

#include "buffer/buffer.h"
#include "output/output.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zc::output {

// Fills p.checksum and p.decoded_frame from `shown`; leaves them unset (and
// says why, once per call) if the buffer cannot be mapped.
void read_back(buffer::Buffer& shown, Presented& p);

// The display's last look at a buffer as it leaves the screen (--verify):
// its checksum now (it must equal the one taken when it was shown, unless
// someone wrote into a buffer the display was reading) and the overwrite
// marker found in it, if any (buffer/overwrite_marker.h). Unset fields: the
// buffer could not be mapped.
struct LastLook {
  std::optional<uint64_t> checksum;
  std::optional<uint64_t> marker;
};
LastLook last_look(buffer::Buffer& leaving);

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
  // is the buffer the display read for that frame.
  void leaving(buffer::Buffer& leaving);
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
