// Dumb buffers: the compositor's own scanout memory.
//
// DRM_IOCTL_MODE_CREATE_DUMB asks the display driver for a linear buffer the
// CPU can write and every KMS driver can scan out: no GPU, no GBM. zcpipe
// uses them where the CPU must put pixels on screen itself: the wl_shm and
// socket transports copy into them, and the KMS output copies a client
// buffer into one when direct scanout is impossible.
//
// Each buffer is exported once as a read-write dma-buf (PRIME), mapped once
// through that fd, and its GEM handle is closed right away: from then on it
// is a dma-buf like any client's, imported into a framebuffer by the same
// code path (kms::Framebuffer), and it lives as long as its fd or a
// framebuffer holds it. No GEM handle is kept anywhere, so none can be
// closed twice (see framebuffer.cpp).
#pragma once

#include <memory>

#include "buffer/allocator.h"
#include "common/result.h"
#include "output/kms/device.h"

namespace zc::output::kms {

// `device` is only used while allocating; buffers do not keep it.
std::unique_ptr<buffer::Allocator> create_dumb_allocator(std::weak_ptr<Device> device);

}  // namespace zc::output::kms
