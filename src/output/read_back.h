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

}  // namespace zc::output
