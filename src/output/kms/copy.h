// The copy fallback: when the primary plane cannot read a client's buffer as
// it is, the CPU copies it into a buffer the plane can read.
//
// Those buffers are XRGB8888 buffers of the mode's size (the one format
// every primary plane takes), leased from the display's one scanout planner
// (buffer/scanout_planner.h): the same planner the compositor's copying
// transports lease from, so the two together never hold more scanout
// buffers than its cap. On KMS the planner's allocator makes dumb buffers
// (kms/dumb.h); each is registered once as a framebuffer (kms_output.cpp
// keeps the FB IDs beside those of client buffers). A frame holds its
// lease until the flip that replaced it completed: then the buffer is free
// again. The copy converts the pixel format where needed and turns a
// bottom-up (Y_INVERT) buffer the right way up.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "buffer/buffer.h"
#include "buffer/pattern.h"
#include "buffer/scanout_planner.h"
#include "common/result.h"

namespace zc::output::kms {

// Formats copy_pixels() converts to XRGB8888.
std::span<const uint32_t> copy_formats();

// Copies a frame into an XRGB8888 scanout buffer, converting the pixel
// format where needed and reversing the rows of a bottom-up (y_invert)
// source. A smaller source lands in the top-left corner; what earlier copies
// left outside it (their extent: drawn_row_bytes x drawn_rows) is cleared by
// buffer::clear_stale. Returns the bytes written from the source, or nullopt
// if the format cannot be converted.
std::optional<uint64_t> copy_pixels(const buffer::ConstPixelView& src, bool y_invert, const buffer::PixelView& dst,
                                    uint32_t& drawn_row_bytes, uint32_t& drawn_rows, bool& converted);

// Whether the copy can read a buffer of this layout. The CPU reads a
// mapping as rows of pixels, one after another: that is what
// DRM_FORMAT_MOD_LINEAR means. Tiled layouts keep pixels in another order
// (Intel X-tiling: 512-byte x 8-row tiles; Y-tiling: 128-byte x 32-row
// tiles; AMD and Arm compress them as well), so read as rows they would show
// garbage. Only the GPU, or the display engine itself, can untile them. A
// buffer with no explicit modifier (DRM_FORMAT_MOD_INVALID: the driver's
// implicit layout) is taken as linear: that is what a driver gives a buffer
// the CPU maps, and what GBM_BO_USE_LINEAR asks for.
bool copy_reads_layout(uint64_t modifier);

// `src` copied (converted, turned the right way up) into the buffer `dst`
// leases (XRGB8888, the mode's size); EINVAL for a layout the copy cannot
// read (copy_reads_layout). Returns the bytes the CPU copied;
// `converted`: the pixels were rewritten, not just moved.
Result<uint64_t> copy_frame(buffer::Buffer& src, const buffer::ScanoutLease& dst, bool& converted);
// The leased buffer cleared to black (what the screen shows after a withdraw).
Result<void> clear_frame(const buffer::ScanoutLease& dst);

}  // namespace zc::output::kms
