// The legacy implementation of kms::Committer (see commit.h): the API from
// before atomic modesetting, which every KMS driver still supports.
//
//   drmModeSetCrtc   connector + mode + framebuffer in one blocking call (a
//                    full modeset; no event: done when it returns)
//   drmModePageFlip  only the primary plane's framebuffer changes, at the
//                    next refresh; an event says when
//
// There is no TEST_ONLY: test() says yes, as wlroots' legacy backend does,
// and the output copies a frame whose commit the kernel refuses.
#include "output/kms/commit.h"

namespace zc::output::kms {
namespace {

class LegacyCommitter final : public Committer {
 public:
  LegacyCommitter(std::shared_ptr<Drm> drm, const Target& t) : owner_(std::move(drm)), drm_(*owner_), t_(t) {}

  const char* name() const override { return "legacy"; }

  Result<void> test(const Framebuffer&, bool) override { return {}; }

  // No fences here: drmModePageFlip has no IN_FENCE_FD (the output waits
  // for the fence before calling it) and no OUT_FENCE_PTR (the flip event
  // alone says when the frame is on screen).
  Result<Completion> page_flip(const Framebuffer& fb, bool modeset, uint64_t user_data, CommitFences*) override {
    if (modeset) {
      if (auto r = this->modeset(fb); !r) return r.error();
      return Completion::done_now;
    }
    if (const int err = drm_.page_flip(t_.crtc_id, fb.id(), DRM_MODE_PAGE_FLIP_EVENT, user_data); err != 0)
      return Error{err, "drmModePageFlip"};
    return Completion::event;
  }

  Result<void> modeset(const Framebuffer& fb) override {
    const uint32_t conn = t_.connector_id;
    if (const int err = drm_.set_crtc(t_.crtc_id, fb.id(), 0, 0, {&conn, 1}, &t_.mode); err != 0)
      return Error{err, "drmModeSetCrtc"};
    return {};
  }

  Result<void> disable() override {
    if (const int err = drm_.set_crtc(t_.crtc_id, 0, 0, 0, {}, nullptr); err != 0)
      return Error{err, "drmModeSetCrtc (off)"};
    return {};
  }

 private:
  std::shared_ptr<Drm> owner_;
  Drm& drm_;
  Target t_;
};

}  // namespace

std::unique_ptr<Committer> make_legacy_committer(std::shared_ptr<Drm> drm, const Target& t) {
  return std::make_unique<LegacyCommitter>(std::move(drm), t);
}

}  // namespace zc::output::kms
