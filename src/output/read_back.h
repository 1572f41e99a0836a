// --verify: the display-CRC stand-in, shared by every output.
//
// Real display engines can compute a CRC of what they scan out; zcpipe's
// outputs instead read (never copy) the buffer the display shows, after the
// flip, and record its checksum and the frame number its pattern encodes.
// The demo compares both with what the client rendered.
#pragma once

#include "buffer/buffer.h"
#include "output/output.h"

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

}  // namespace zc::output
