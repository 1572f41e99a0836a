#include "output/kms/framebuffer.h"

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "common/format.h"
#include "common/log.h"

namespace zc::output::kms {
namespace {

// Closes each distinct handle once. Why "distinct" matters: the kernel keeps
// ONE handle per buffer object per DRM file and does not count how often it
// handed it out. Two planes in the same dma-buf, or the same dma-buf
// imported twice, yield the same number; closing it twice would fail the
// second time — or, worse, close a handle some other code got for the same
// object in the meantime and still relies on. zcpipe therefore never keeps a
// GEM handle past the function that opened it: the framebuffer (and the
// dma-buf fd) hold their own references to the memory.
void close_handles(Drm& drm, const std::array<uint32_t, 4>& handles, uint32_t n, FramebufferCounters* counters) {
  for (uint32_t i = 0; i < n; ++i) {
    if (handles[i] == 0) continue;
    if (std::find(handles.begin(), handles.begin() + i, handles[i]) != handles.begin() + i) continue;
    if (const int err = drm.close_handle(handles[i]); err != 0)
      log::warn("kms: closing GEM handle {}: {}", handles[i], std::strerror(err));
    else if (counters != nullptr)
      counters->gem_handles_closed++;
  }
}

}  // namespace

Result<std::shared_ptr<Framebuffer>> Framebuffer::import(std::shared_ptr<Drm> device, const buffer::Dmabuf& d,
                                                         bool addfb2_modifiers,
                                                         std::shared_ptr<FramebufferCounters> shared_counters) {
  Drm& drm = *device;
  FramebufferCounters* counters = shared_counters.get();
  // Which AddFB2: a device that reports ADDFB2_MODIFIERS = 0 (virtio-gpu,
  // many simple display controllers) rejects the DRM_MODE_FB_MODIFIERS flag
  // outright. For such a device the layout is implicit — whatever the driver
  // allocates, which for a LINEAR buffer is linear — so plain AddFB2 is right
  // for LINEAR and INVALID (implicit) buffers, and any other modifier cannot
  // be expressed at all.
  const bool implicit = d.modifier == DRM_FORMAT_MOD_INVALID;
  const bool with_modifiers = addfb2_modifiers && !implicit;
  if (!addfb2_modifiers && !implicit && d.modifier != DRM_FORMAT_MOD_LINEAR)
    return Error{EINVAL, fmt::format("modifier {} needs AddFB2 with modifiers, which this device lacks "
                                     "(ADDFB2_MODIFIERS = 0)",
                                     modifier_name(d.modifier))};
  if (d.num_planes == 0 || d.num_planes > 4) return Error{EINVAL, "dma-buf without planes"};

  std::array<uint32_t, 4> handles{}, pitches{}, offsets{};
  std::array<uint64_t, 4> modifiers{};
  for (uint32_t i = 0; i < d.num_planes; ++i) {
    if (const int err = drm.prime_fd_to_handle(d.planes[i].fd.get(), handles[i]); err != 0) {
      close_handles(drm, handles, i, counters);
      return Error{err, "drmPrimeFDToHandle"};
    }
    // Only count a handle we did not already hold (same object, same number).
    if (counters != nullptr && std::find(handles.begin(), handles.begin() + i, handles[i]) == handles.begin() + i)
      counters->gem_handles_opened++;
    pitches[i] = d.planes[i].stride;
    offsets[i] = d.planes[i].offset;
    modifiers[i] = d.modifier;
  }
  uint32_t id = 0;
  const int err = drm.add_fb2(d.width, d.height, d.format, handles, pitches, offsets,
                              with_modifiers ? &modifiers : nullptr, id);
  // Success or not, the handles are not needed any more.
  close_handles(drm, handles, d.num_planes, counters);
  if (err != 0)
    return Error{err, fmt::format("{} {}x{} {} {}", with_modifiers ? "drmModeAddFB2WithModifiers" : "drmModeAddFB2",
                                  d.width, d.height, format_name(d.format), modifier_name(d.modifier))};
  if (counters != nullptr) counters->created++;
  return std::shared_ptr<Framebuffer>(new Framebuffer(std::move(device), id,
                                                         FbLayout{d.width, d.height, d.format, d.modifier,
                                                                  d.num_planes, pitches, offsets},
                                                         std::move(shared_counters)));
}

Framebuffer::~Framebuffer() {
  // RmFB also turns off any plane still showing it: owners make sure none is
  // (a framebuffer outlives the flip that replaced it).
  if (const int err = drm_->rm_fb(id_); err != 0) log::warn("kms: drmModeRmFB {}: {}", id_, std::strerror(err));
  if (counters_ != nullptr) counters_->removed++;
}

}  // namespace zc::output::kms
