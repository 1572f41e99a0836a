// kms::Drm — the seam between zcpipe's KMS logic and the kernel.
//
// Everything the KMS output asks of the display driver goes through this one
// interface: the libdrm calls zcpipe uses, with plain C++ values in and out
// instead of libdrm's malloc'ed structs. RealDrm (real_drm.cpp) forwards each
// call to libdrm on a DRM fd; the unit tests (tests/unit/kms) drive the same
// logic through a fake device that records every request, can refuse a
// TEST_ONLY commit, answer EBUSY, and counts GEM handles and framebuffers —
// the libliftoff approach (a mocked libdrm), without hardware.
//
// Convention: every int-returning call returns 0 on success or a positive
// errno value on failure (libdrm itself mixes -1/errno and -errno).
#pragma once

#include <xf86drmMode.h>  // drmModeModeInfo: the kernel's mode description, used as is

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace zc::output::kms {

struct DriverVersion {
  std::string name;         // "virtio_gpu"
  std::string version;      // "0.1.0"
  std::string description;  // "virtio GPU"
};

struct Resources {
  std::vector<uint32_t> crtcs, connectors, encoders;
};

struct ConnectorInfo {
  uint32_t id = 0;
  uint32_t type = 0;     // DRM_MODE_CONNECTOR_* (HDMIA, eDP, VIRTUAL, ...)
  uint32_t type_id = 0;  // 1 for "HDMI-A-1"
  bool connected = false;
  // The kernel's answer as it is: DRM_MODE_CONNECTED, DRM_MODE_DISCONNECTED
  // or DRM_MODE_UNKNOWNCONNECTION (zcpipe-probe reports all three).
  uint32_t connection = DRM_MODE_UNKNOWNCONNECTION;
  uint32_t mm_width = 0, mm_height = 0;  // physical size of the sink, 0 = unknown
  uint32_t encoder_id = 0;  // the encoder in use now, 0 = none
  std::vector<uint32_t> encoders;
  std::vector<drmModeModeInfo> modes;
};

struct EncoderInfo {
  uint32_t id = 0;
  uint32_t crtc_id = 0;         // the CRTC feeding it now, 0 = none
  uint32_t possible_crtcs = 0;  // bit i = the i-th CRTC of Resources::crtcs
};

struct CrtcInfo {
  uint32_t id = 0;
  uint32_t fb_id = 0;  // framebuffer on its primary plane, 0 = none
  uint32_t x = 0, y = 0;
  bool mode_valid = false;  // false: the CRTC is off
  drmModeModeInfo mode{};
};

struct PlaneInfo {
  uint32_t id = 0;
  uint32_t crtc_id = 0;
  uint32_t fb_id = 0;
  uint32_t possible_crtcs = 0;
  std::vector<uint32_t> formats;  // fourccs (without modifiers; see IN_FORMATS)
};

struct Property {
  uint32_t id = 0;
  std::string name;
  uint64_t value = 0;
};

// One (object, property, value) triple of an atomic request.
struct AtomicProp {
  uint32_t object = 0;
  uint32_t property = 0;
  uint64_t value = 0;
  bool operator==(const AtomicProp&) const = default;
};

// A page-flip event: the commit tagged `user_data` completed on `crtc_id`.
struct FlipEvent {
  uint32_t crtc_id = 0;
  uint32_t sequence = 0;  // the CRTC's vblank counter (0 forever on a device without vblank)
  uint64_t time_ns = 0;   // CLOCK_MONOTONIC when DRM_CAP_TIMESTAMP_MONOTONIC is 1
  uint64_t user_data = 0;
};

struct DumbInfo {
  uint32_t handle = 0;
  uint32_t pitch = 0;
  uint64_t size = 0;
};

class Drm {
 public:
  virtual ~Drm() = default;

  // The descriptor to poll: readable when events (page flips) are pending.
  virtual int fd() const = 0;

  // The driver's name, version and description (DRM_IOCTL_VERSION).
  virtual int version(DriverVersion& out) = 0;
  // "virtio_gpu", "i915", "amdgpu"...: for the one line saying what we drive.
  std::string driver_name() {
    DriverVersion v;
    return version(v) == 0 ? v.name : "unknown";
  }
  virtual int get_cap(uint64_t cap, uint64_t& value) = 0;
  virtual int set_client_cap(uint64_t cap, uint64_t value) = 0;
  virtual bool is_master() = 0;
  virtual int set_master() = 0;

  // Mode-setting objects.
  virtual int resources(Resources& out) = 0;
  virtual int connector(uint32_t id, ConnectorInfo& out) = 0;
  virtual int encoder(uint32_t id, EncoderInfo& out) = 0;
  virtual int crtc(uint32_t id, CrtcInfo& out) = 0;
  virtual int plane_ids(std::vector<uint32_t>& out) = 0;
  virtual int plane(uint32_t id, PlaneInfo& out) = 0;
  virtual int properties(uint32_t object, uint32_t object_type, std::vector<Property>& out) = 0;
  virtual int get_blob(uint32_t blob_id, std::vector<uint8_t>& out) = 0;
  virtual int create_blob(const void* data, size_t size, uint32_t& blob_id) = 0;
  virtual int destroy_blob(uint32_t blob_id) = 0;

  // Buffers. GEM handles name buffer objects per open file; the kernel does
  // NOT count how often a handle was handed out (see framebuffer.cpp).
  virtual int prime_fd_to_handle(int dmabuf_fd, uint32_t& handle) = 0;
  virtual int prime_handle_to_fd(uint32_t handle, uint32_t flags, int& dmabuf_fd) = 0;
  virtual int close_handle(uint32_t handle) = 0;
  // `modifiers` == nullptr: plain ADDFB2, the layout is implied by the buffer.
  virtual int add_fb2(uint32_t width, uint32_t height, uint32_t format, const std::array<uint32_t, 4>& handles,
                      const std::array<uint32_t, 4>& pitches, const std::array<uint32_t, 4>& offsets,
                      const std::array<uint64_t, 4>* modifiers, uint32_t& fb_id) = 0;
  virtual int rm_fb(uint32_t fb_id) = 0;
  virtual int create_dumb(uint32_t width, uint32_t height, uint32_t bpp, DumbInfo& out) = 0;
  virtual int destroy_dumb(uint32_t handle) = 0;

  // Showing them.
  virtual int atomic_commit(std::span<const AtomicProp> props, uint32_t flags, uint64_t user_data) = 0;
  virtual int set_crtc(uint32_t crtc_id, uint32_t fb_id, uint32_t x, uint32_t y,
                       std::span<const uint32_t> connectors, const drmModeModeInfo* mode) = 0;
  virtual int page_flip(uint32_t crtc_id, uint32_t fb_id, uint32_t flags, uint64_t user_data) = 0;
  // The CRTC's vblank counter; EOPNOTSUPP on a device without vblank interrupts.
  virtual int crtc_sequence(uint32_t crtc_id, uint64_t& sequence, uint64_t& ns) = 0;
  // Reads pending events and calls on_flip for each page-flip completion.
  virtual int handle_events(const std::function<void(const FlipEvent&)>& on_flip) = 0;
};

// libdrm on an open DRM node (takes ownership of the fd).
std::unique_ptr<Drm> make_real_drm(UniqueFd fd);

}  // namespace zc::output::kms
