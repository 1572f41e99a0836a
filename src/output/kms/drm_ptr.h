// libdrm's own types, held safely, and their translation into kms::Drm's.
//
// libdrm returns the kernel's answers as structs it allocated with malloc,
// each with its own free function (drmModeFreeConnector, ...). These
// unique_ptr aliases pair each with its free function, so every early
// return frees them. Both users of raw libdrm share them: the KMS output's
// RealDrm (real_drm.cpp) and, through RealDrm, zcpipe-probe.
//
// The to_*() translations copy what zcpipe uses into plain C++ values. They
// are pure functions (no fd, no ioctl), so unit tests check them on structs
// built by hand, without a device.
#pragma once

#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <memory>

#include "output/kms/drm.h"

namespace zc::output::kms {

template <typename T, void (*Free)(T*)>
struct DrmDeleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};
using DrmVersionPtr = std::unique_ptr<drmVersion, DrmDeleter<drmVersion, drmFreeVersion>>;
using DrmResPtr = std::unique_ptr<drmModeRes, DrmDeleter<drmModeRes, drmModeFreeResources>>;
using DrmConnectorPtr = std::unique_ptr<drmModeConnector, DrmDeleter<drmModeConnector, drmModeFreeConnector>>;
using DrmEncoderPtr = std::unique_ptr<drmModeEncoder, DrmDeleter<drmModeEncoder, drmModeFreeEncoder>>;
using DrmCrtcPtr = std::unique_ptr<drmModeCrtc, DrmDeleter<drmModeCrtc, drmModeFreeCrtc>>;
using DrmPlaneResPtr = std::unique_ptr<drmModePlaneRes, DrmDeleter<drmModePlaneRes, drmModeFreePlaneResources>>;
using DrmPlanePtr = std::unique_ptr<drmModePlane, DrmDeleter<drmModePlane, drmModeFreePlane>>;
using DrmPropsPtr =
    std::unique_ptr<drmModeObjectProperties, DrmDeleter<drmModeObjectProperties, drmModeFreeObjectProperties>>;
using DrmPropPtr = std::unique_ptr<drmModePropertyRes, DrmDeleter<drmModePropertyRes, drmModeFreeProperty>>;
using DrmBlobPtr = std::unique_ptr<drmModePropertyBlobRes, DrmDeleter<drmModePropertyBlobRes, drmModeFreePropertyBlob>>;
using DrmAtomicPtr = std::unique_ptr<drmModeAtomicReq, DrmDeleter<drmModeAtomicReq, drmModeAtomicFree>>;

// libdrm reports failure as -1 with errno set, or as -errno: either becomes
// a positive errno value (0 on success). `saved_errno`: errno right after
// the call; EIO if a -1 came without one.
int drm_errno(int ret, int saved_errno);

DriverVersion to_driver_version(const drmVersion& v);
Resources to_resources(const drmModeRes& r);
ConnectorInfo to_connector_info(const drmModeConnector& c);
EncoderInfo to_encoder_info(const drmModeEncoder& e);
CrtcInfo to_crtc_info(const drmModeCrtc& c);
PlaneInfo to_plane_info(const drmModePlane& p);
// A page_flip_handler2 call of drmHandleEvent, as a FlipEvent (the commit's
// user_data travels as the event's pointer).
FlipEvent to_flip_event(unsigned sequence, unsigned sec, unsigned usec, unsigned crtc_id, void* user_data);

}  // namespace zc::output::kms
