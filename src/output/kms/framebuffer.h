// kms::Framebuffer: a buffer registered with KMS, so a plane can show it.
//
// A plane does not take a file descriptor: it takes a framebuffer ID
// (FB_ID). Getting one from a client's dma-buf is two steps:
//
//   1. drmPrimeFDToHandle: the dma-buf becomes a GEM handle, this DRM file's
//      local name for the buffer object ("import").
//   2. drmModeAddFB2[WithModifiers]: handle(s) + size + format + pitch/offset
//      (+ modifier) become a framebuffer ID.
//
// The framebuffer holds its own reference to the buffer object, so the GEM
// handles are closed right after step 2 (see framebuffer.cpp for why they
// must be, and exactly once). The framebuffer lives until drmModeRmFB in the
// destructor — which must not run while a plane still shows it or a commit
// in flight refers to it: owners keep a shared_ptr per use.
//
// The framebuffer holds the device (a shared_ptr to its kms::Drm) and its
// counters: however the owners are torn down, RmFB always reaches the
// device the ID belongs to, never a freed one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "buffer/dmabuf.h"
#include "common/result.h"
#include "output/kms/drm.h"

namespace zc::output::kms {

struct FramebufferCounters {
  uint64_t created = 0;
  uint64_t removed = 0;
  uint64_t gem_handles_opened = 0;
  uint64_t gem_handles_closed = 0;
};

// What a plane needs to know about a framebuffer's memory: two
// framebuffers with equal layouts look the same to a TEST_ONLY commit.
struct FbLayout {
  uint32_t width = 0, height = 0, format = 0;
  uint64_t modifier = 0;
  uint32_t num_planes = 0;
  std::array<uint32_t, 4> pitches{}, offsets{};
  bool operator==(const FbLayout&) const = default;
};

class Framebuffer {
 public:
  // `addfb2_modifiers`: the device's DRM_CAP_ADDFB2_MODIFIERS. `counters`
  // is optional.
  static Result<std::shared_ptr<Framebuffer>> import(std::shared_ptr<Drm> drm, const buffer::Dmabuf& d,
                                                     bool addfb2_modifiers,
                                                     std::shared_ptr<FramebufferCounters> counters = nullptr);
  ~Framebuffer();
  Framebuffer(const Framebuffer&) = delete;
  Framebuffer& operator=(const Framebuffer&) = delete;

  uint32_t id() const { return id_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint32_t format() const { return format_; }
  const FbLayout& layout() const { return layout_; }

 private:
  Framebuffer(std::shared_ptr<Drm> drm, uint32_t id, const FbLayout& layout,
              std::shared_ptr<FramebufferCounters> counters)
      : drm_(std::move(drm)), id_(id), width_(layout.width), height_(layout.height), format_(layout.format),
        layout_(layout), counters_(std::move(counters)) {}
  std::shared_ptr<Drm> drm_;
  uint32_t id_;
  uint32_t width_, height_, format_;
  FbLayout layout_;
  std::shared_ptr<FramebufferCounters> counters_;
};

}  // namespace zc::output::kms
