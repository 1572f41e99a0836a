// RealDrm: kms::Drm on a real DRM node, one libdrm call per method.
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <cerrno>
#include <memory>

#include "output/kms/drm_ptr.h"

namespace zc::output::kms {
namespace {

// libdrm's status, as errno (see drm_errno).
int err(int ret) { return drm_errno(ret, errno); }
int null_err() { return errno != 0 ? errno : ENOENT; }

// drmHandleEvent calls a plain C function; the std::function to forward to
// lives here for the duration of that call (the event loop is one thread).
thread_local const std::function<void(const FlipEvent&)>* t_on_flip = nullptr;

void on_flip2(int, unsigned int sequence, unsigned int sec, unsigned int usec, unsigned int crtc_id, void* data) {
  if (t_on_flip == nullptr) return;
  (*t_on_flip)(to_flip_event(sequence, sec, usec, crtc_id, data));
}

class RealDrm final : public Drm {
 public:
  explicit RealDrm(UniqueFd fd) : fd_(std::move(fd)) {}

  int fd() const override { return fd_.get(); }

  int version(DriverVersion& out) override {
    errno = 0;
    DrmVersionPtr v{drmGetVersion(fd())};
    if (!v) return null_err();
    out = to_driver_version(*v);
    return 0;
  }
  int get_cap(uint64_t cap, uint64_t& value) override { return err(drmGetCap(fd(), cap, &value)); }
  int set_client_cap(uint64_t cap, uint64_t value) override { return err(drmSetClientCap(fd(), cap, value)); }
  bool is_master() override { return drmIsMaster(fd()) != 0; }
  int set_master() override { return err(drmSetMaster(fd())); }

  int resources(Resources& out) override {
    errno = 0;
    DrmResPtr r{drmModeGetResources(fd())};
    if (!r) return null_err();
    out = to_resources(*r);
    return 0;
  }

  int connector(uint32_t id, ConnectorInfo& out) override {
    errno = 0;
    // drmModeGetConnector (not ...Current) probes the connector: the mode
    // list is fresh. It can take a while on real hardware (EDID read), so
    // zcpipe calls it once per connector at start-up only.
    DrmConnectorPtr c{drmModeGetConnector(fd(), id)};
    if (!c) return null_err();
    out = to_connector_info(*c);
    return 0;
  }

  int encoder(uint32_t id, EncoderInfo& out) override {
    errno = 0;
    DrmEncoderPtr e{drmModeGetEncoder(fd(), id)};
    if (!e) return null_err();
    out = to_encoder_info(*e);
    return 0;
  }

  int crtc(uint32_t id, CrtcInfo& out) override {
    errno = 0;
    DrmCrtcPtr c{drmModeGetCrtc(fd(), id)};
    if (!c) return null_err();
    out = to_crtc_info(*c);
    return 0;
  }

  int plane_ids(std::vector<uint32_t>& out) override {
    errno = 0;
    DrmPlaneResPtr r{drmModeGetPlaneResources(fd())};
    if (!r) return null_err();
    out.assign(r->planes, r->planes + r->count_planes);
    return 0;
  }

  int plane(uint32_t id, PlaneInfo& out) override {
    errno = 0;
    DrmPlanePtr p{drmModeGetPlane(fd(), id)};
    if (!p) return null_err();
    out = to_plane_info(*p);
    return 0;
  }

  int properties(uint32_t object, uint32_t type, std::vector<Property>& out) override {
    errno = 0;
    DrmPropsPtr props{drmModeObjectGetProperties(fd(), object, type)};
    if (!props) return null_err();
    out.clear();
    for (uint32_t i = 0; i < props->count_props; ++i) {
      DrmPropPtr p{drmModeGetProperty(fd(), props->props[i])};
      if (!p) continue;
      out.push_back(Property{p->prop_id, p->name, props->prop_values[i]});
    }
    return 0;
  }

  int get_blob(uint32_t id, std::vector<uint8_t>& out) override {
    errno = 0;
    DrmBlobPtr b{drmModeGetPropertyBlob(fd(), id)};
    if (!b) return null_err();
    const auto* data = static_cast<const uint8_t*>(b->data);
    out.assign(data, data + b->length);
    return 0;
  }

  int create_blob(const void* data, size_t size, uint32_t& id) override {
    return err(drmModeCreatePropertyBlob(fd(), data, size, &id));
  }
  int destroy_blob(uint32_t id) override { return err(drmModeDestroyPropertyBlob(fd(), id)); }

  int prime_fd_to_handle(int dmabuf_fd, uint32_t& handle) override {
    return err(drmPrimeFDToHandle(fd(), dmabuf_fd, &handle));
  }
  int prime_handle_to_fd(uint32_t handle, uint32_t flags, int& out) override {
    return err(drmPrimeHandleToFD(fd(), handle, flags, &out));
  }
  int close_handle(uint32_t handle) override { return err(drmCloseBufferHandle(fd(), handle)); }

  int add_fb2(uint32_t w, uint32_t h, uint32_t format, const std::array<uint32_t, 4>& handles,
              const std::array<uint32_t, 4>& pitches, const std::array<uint32_t, 4>& offsets,
              const std::array<uint64_t, 4>* modifiers, uint32_t& fb_id) override {
    if (modifiers != nullptr)
      return err(drmModeAddFB2WithModifiers(fd(), w, h, format, handles.data(), pitches.data(), offsets.data(),
                                            modifiers->data(), &fb_id, DRM_MODE_FB_MODIFIERS));
    return err(drmModeAddFB2(fd(), w, h, format, handles.data(), pitches.data(), offsets.data(), &fb_id, 0));
  }
  int rm_fb(uint32_t fb_id) override { return err(drmModeRmFB(fd(), fb_id)); }

  int create_dumb(uint32_t w, uint32_t h, uint32_t bpp, DumbInfo& out) override {
    return err(drmModeCreateDumbBuffer(fd(), w, h, bpp, 0, &out.handle, &out.pitch, &out.size));
  }
  int destroy_dumb(uint32_t handle) override { return err(drmModeDestroyDumbBuffer(fd(), handle)); }

  int atomic_commit(std::span<const AtomicProp> props, uint32_t flags, uint64_t user_data) override {
    DrmAtomicPtr req{drmModeAtomicAlloc()};
    if (!req) return ENOMEM;
    for (const AtomicProp& p : props)
      if (drmModeAtomicAddProperty(req.get(), p.object, p.property, p.value) < 0) return ENOMEM;
    return err(drmModeAtomicCommit(fd(), req.get(), flags, reinterpret_cast<void*>(static_cast<uintptr_t>(user_data))));
  }

  int set_crtc(uint32_t crtc_id, uint32_t fb_id, uint32_t x, uint32_t y, std::span<const uint32_t> connectors,
               const drmModeModeInfo* mode) override {
    // libdrm's prototype is not const-correct.
    return err(drmModeSetCrtc(fd(), crtc_id, fb_id, x, y, const_cast<uint32_t*>(connectors.data()),
                              static_cast<int>(connectors.size()), const_cast<drmModeModeInfo*>(mode)));
  }

  int page_flip(uint32_t crtc_id, uint32_t fb_id, uint32_t flags, uint64_t user_data) override {
    return err(drmModePageFlip(fd(), crtc_id, fb_id, flags, reinterpret_cast<void*>(static_cast<uintptr_t>(user_data))));
  }

  int crtc_sequence(uint32_t crtc_id, uint64_t& sequence, uint64_t& ns) override {
    return err(drmCrtcGetSequence(fd(), crtc_id, &sequence, &ns));
  }

  int handle_events(const std::function<void(const FlipEvent&)>& on_flip) override {
    drmEventContext ctx{};
    ctx.version = 3;  // page_flip_handler2: the event names its CRTC
    ctx.page_flip_handler2 = &on_flip2;
    t_on_flip = &on_flip;
    const int r = drmHandleEvent(fd(), &ctx);
    t_on_flip = nullptr;
    return err(r);
  }

 private:
  UniqueFd fd_;
};

}  // namespace

std::unique_ptr<Drm> make_real_drm(UniqueFd fd) { return std::make_unique<RealDrm>(std::move(fd)); }

}  // namespace zc::output::kms
