// The overwrite proof's marker: a proof of zero-copy that does not trust the
// ledger.
//
// The ledger counts the copies zcpipe reports about itself (ledger.copy()),
// so an unreported memcpy would pass every test built on it. The overwrite
// experiment needs no such trust, the way zcpipe-copybench tells which copy
// happened: after the display has shown frame N, the client writes a marker
// into the very buffer it committed for frame N, and the display looks at
// what it shows once more before frame N leaves the screen.
//   - zero-copy: the display reads the client's memory, so it sees the marker;
//   - copied: the display reads the compositor's copy, taken before the
//     marker was written, so it cannot see it.
// The marker names its frame, so a marker left over from an earlier frame in
// a reused buffer (--render header rewrites only the top rows) never counts.
//
// Where: the first 16 bytes of the frame's last row, "ZCMARKER" and the
// frame number (little-endian), far from the header rows that carry the
// frame number (buffer/pattern.h), so the shown frame still decodes.
#pragma once

#include <cstdint>
#include <optional>

#include "buffer/pattern.h"

namespace zc::buffer {

constexpr uint32_t kMarkerBytes = 16;

// Whether a frame of this size and format has room for the marker (a last
// row of at least kMarkerBytes visible bytes).
bool marker_fits(uint32_t width, uint32_t height, uint32_t format);
// Writes the marker for `frame` into v; false (nothing written) when it does not fit.
bool write_marker(const PixelView& v, uint64_t frame);
// The frame number of the marker in v, if there is one.
std::optional<uint64_t> read_marker(const ConstPixelView& v);

}  // namespace zc::buffer
