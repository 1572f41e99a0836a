// The atomic implementation of kms::Committer (see commit.h).
//
// Each request names every property the primary plane needs (a plane whose
// FB_ID is set needs a CRTC_ID and its source/destination rectangles too);
// a modeset adds the connector's CRTC_ID and the CRTC's MODE_ID and ACTIVE,
// which the kernel refuses (EINVAL) unless the request carries
// DRM_MODE_ATOMIC_ALLOW_MODESET: a modeset may blank the screen for a while,
// and a compositor must say it means it.
#include <fmt/core.h>
#include <xf86drmMode.h>

#include <unistd.h>

#include <cstdint>
#include <optional>

#include "output/kms/atomic.h"
#include "output/kms/commit.h"
#include "output/kms/properties.h"

namespace zc::output::kms {
namespace {

class AtomicCommitter final : public Committer {
 public:
  AtomicCommitter(std::shared_ptr<Drm> drm, const Target& t, PropertyTable<ConnectorProp> c, PropertyTable<CrtcProp> k,
                  PropertyTable<PlaneProp> p, uint32_t mode_blob)
      : owner_(std::move(drm)), drm_(*owner_), t_(t), conn_(c), crtc_(k), plane_(p), mode_blob_(mode_blob) {}
  ~AtomicCommitter() override {
    if (mode_blob_ != 0) drm_.destroy_blob(mode_blob_);
  }

  const char* name() const override { return "atomic"; }

  Result<void> test(const Framebuffer& fb, bool modeset) override {
    // Asking costs an ioctl and the driver's whole check (most of a
    // commit's kernel time on some drivers). A client cycles through a few
    // buffers of one layout: when nothing the plane sees has changed since
    // the last test the driver accepted (same size, format, modifier,
    // pitches and offsets, same plane and CRTC, same modeset or not), its
    // answer stands. A refusal is not remembered: a buffer that failed is
    // copied, and the next one is asked about again.
    if (last_ok_ && last_ok_->layout == fb.layout() && last_ok_->modeset == modeset) {
      n_.tests_skipped++;
      return {};
    }
    // TEST_ONLY: ask the driver whether the plane can scan this very buffer
    // out (stride, alignment, placement in memory, bandwidth... constraints
    // no API lists), before committing to it.
    AtomicRequest req(drm_);
    build(req, fb.id(), modeset);
    n_.tests++;
    auto r = req.test(modeset ? DRM_MODE_ATOMIC_ALLOW_MODESET : 0);
    if (!r) {
      n_.tests_rejected++;
      last_ok_.reset();
      return r;
    }
    last_ok_ = Tested{fb.layout(), modeset};
    return r;
  }

  void forget_tests() override { last_ok_.reset(); }

  bool takes_in_fences() const override { return plane_.has(PlaneProp::in_fence_fd); }

  Result<Completion> page_flip(const Framebuffer& fb, bool modeset, uint64_t user_data,
                               CommitFences* fences) override {
    AtomicRequest req(drm_);
    build(req, fb.id(), modeset);
    // Explicit fences (fence.h). IN_FENCE_FD: the plane switches to this
    // buffer only once the fence has signalled (the GPU finished drawing
    // it); the kernel takes its own reference to the fence during the
    // ioctl, so the descriptor stays ours. OUT_FENCE_PTR: the address of an
    // int where the kernel writes a new sync_file's descriptor, which
    // signals when this commit's frame is on screen (at the same moment as
    // the page-flip event). Neither goes into a TEST_ONLY request: a test
    // asks about the buffer, not about when it is ready.
    int32_t out_fence = -1;
    if (fences != nullptr) {
      fences->in_fence_attached = false;
      if (fences->in_fence_fd >= 0 && takes_in_fences()) {
        req.add(plane_, PlaneProp::in_fence_fd, static_cast<uint64_t>(fences->in_fence_fd));
        fences->in_fence_attached = true;
      }
      if (fences->want_out_fence && crtc_.has(CrtcProp::out_fence_ptr))
        req.add(crtc_, CrtcProp::out_fence_ptr, reinterpret_cast<uintptr_t>(&out_fence));
    }
    // NONBLOCK: return at once; PAGE_FLIP_EVENT: tell us when it is on screen.
    uint32_t flags = DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT;
    if (modeset) flags |= DRM_MODE_ATOMIC_ALLOW_MODESET;
    if (auto r = req.commit(flags, user_data); !r) {
      // Refused although it passed a test: the test's answer no longer holds.
      if (r.error().code != EBUSY) last_ok_.reset();
      // A refused commit installs no out-fence (the kernel writes -1 back).
      if (fences != nullptr) fences->in_fence_attached = false;
      if (out_fence >= 0) ::close(out_fence);
      return errno_error(r.error());
    }
    if (fences != nullptr && out_fence >= 0) fences->out_fence = UniqueFd{out_fence};
    return Completion::event;
  }

  Result<void> modeset(const Framebuffer& fb) override {
    AtomicRequest req(drm_);
    build(req, fb.id(), true);
    if (auto r = req.commit(DRM_MODE_ATOMIC_ALLOW_MODESET, 0); !r) return errno_error(r.error());
    return {};
  }

  Result<void> disable() override {
    // The kernel's rules hold in both directions: a plane without FB_ID has
    // no CRTC_ID, an inactive CRTC has no mode, a connector without CRTC.
    AtomicRequest req(drm_);
    req.add(plane_, PlaneProp::fb_id, 0)
        .add(plane_, PlaneProp::crtc_id, 0)
        .add(conn_, ConnectorProp::crtc_id, 0)
        .add(crtc_, CrtcProp::mode_id, 0)
        .add(crtc_, CrtcProp::active, 0);
    if (auto r = req.commit(DRM_MODE_ATOMIC_ALLOW_MODESET, 0); !r) return errno_error(r.error());
    return {};
  }

 private:
  // Callers branch on the errno (EBUSY): never hand them a 0.
  static Error errno_error(const Error& e) { return Error{e.code != 0 ? e.code : EINVAL, e.what}; }

  void build(AtomicRequest& req, uint32_t fb_id, bool modeset) const {
    if (modeset) {
      req.add(conn_, ConnectorProp::crtc_id, t_.crtc_id)
          .add(crtc_, CrtcProp::mode_id, mode_blob_)
          .add(crtc_, CrtcProp::active, 1);
    }
    // Source rectangle in 16.16 fixed point (planes may crop and scale);
    // destination in whole pixels: the full buffer over the full screen.
    req.add(plane_, PlaneProp::fb_id, fb_id)
        .add(plane_, PlaneProp::crtc_id, t_.crtc_id)
        .add(plane_, PlaneProp::src_x, 0)
        .add(plane_, PlaneProp::src_y, 0)
        .add(plane_, PlaneProp::src_w, uint64_t{t_.mode.hdisplay} << 16)
        .add(plane_, PlaneProp::src_h, uint64_t{t_.mode.vdisplay} << 16)
        .add(plane_, PlaneProp::crtc_x, 0)
        .add(plane_, PlaneProp::crtc_y, 0)
        .add(plane_, PlaneProp::crtc_w, t_.mode.hdisplay)
        .add(plane_, PlaneProp::crtc_h, t_.mode.vdisplay);
  }

  std::shared_ptr<Drm> owner_;
  Drm& drm_;
  Target t_;
  struct Tested {
    FbLayout layout;
    bool modeset;
  };
  std::optional<Tested> last_ok_;  // the last state TEST_ONLY accepted
  PropertyTable<ConnectorProp> conn_;
  PropertyTable<CrtcProp> crtc_;
  PropertyTable<PlaneProp> plane_;
  uint32_t mode_blob_;
};

}  // namespace

Result<std::unique_ptr<Committer>> make_atomic_committer(std::shared_ptr<Drm> device, const Target& t) {
  Drm& drm = *device;
  auto cp = resolve_connector(drm, t.connector_id);
  auto kp = resolve_crtc(drm, t.crtc_id);
  auto pp = resolve_plane(drm, t.plane_id);
  if (!cp) return cp.error();
  if (!kp) return kp.error();
  if (!pp) return pp.error();
  if (std::string missing = missing_for_atomic(*cp, *kp, *pp); !missing.empty()) return Error{0, missing};
  // The mode travels to the kernel as a blob property: created once.
  uint32_t blob = 0;
  if (const int err = drm.create_blob(&t.mode, sizeof t.mode, blob); err != 0)
    return Error{err, "cannot create the mode blob (drmModeCreatePropertyBlob)"};
  return std::unique_ptr<Committer>(new AtomicCommitter(std::move(device), t, *cp, *kp, *pp, blob));
}

}  // namespace zc::output::kms
