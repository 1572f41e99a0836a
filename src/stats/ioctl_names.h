// What an ioctl means, for zcpipe-demo --explain: the request number and its
// argument struct turned into a name and a sentence, with the objects
// involved (framebuffer ids, GEM handles, planes and CRTCs, the properties an
// atomic commit sets, fds).
//
// An ioctl is how user space talks to a driver: one syscall, a request number
// that encodes (direction, type letter, number, argument size), and a pointer
// to a struct the driver reads and fills. The display half of the pipeline is
// nothing but ioctls on the DRM device:
//   PRIME_FD_TO_HANDLE  the client's dma-buf fd -> a GEM handle on this device
//   MODE_ADDFB2         GEM handle + format + pitch -> a framebuffer id
//   GEM_CLOSE           the handle is not needed once the framebuffer exists
//   MODE_ATOMIC         plane FB_ID = that framebuffer: TEST_ONLY first, then
//                       NONBLOCK | PAGE_FLIP_EVENT for real
//   read() on the fd    the page-flip event: the display now scans it out
//   MODE_RMFB           the framebuffer is gone when its buffer is
// and DMA_BUF_IOCTL_SYNC brackets CPU access to a dma-buf's mapping.
//
// Pure functions of the request and the argument bytes: unit-tested without a
// device (tests/unit/stats/ioctl_names_test.cpp). Called only while a frame is
// traced, never on the per-frame path otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace zc::stats {

struct IoctlText {
  std::string name;     // "DRM_IOCTL_MODE_ATOMIC", "DMA_BUF_IOCTL_SYNC", "ioctl 0x5421"
  std::string meaning;  // a sentence with the objects involved
};

// The name of a KMS property id ("FB_ID"), or "" when unknown.
using PropertyNamer = std::function<std::string(uint32_t prop_id)>;

// `arg` is the ioctl's argument as passed (read after the call, so the
// driver's outputs are there: ADDFB2's fb_id, PRIME's handle); `result` the
// call's return value and `err` its errno when result < 0.
IoctlText describe_ioctl(unsigned long request, const void* arg, long result, int err, const PropertyNamer& names = {});

// The flags of an atomic commit, "TEST_ONLY | NONBLOCK", each with its meaning
// when `explain` is set.
std::string atomic_flags(uint32_t flags, bool explain);

// "drm_event_vblank (32 bytes): ..." for a read() of `bytes` from a DRM fd.
std::string drm_event_read_meaning(long bytes);

}  // namespace zc::stats
