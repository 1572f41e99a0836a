// zcpipe-flip-floor: the KMS floor of a display device. It flips three
// full-screen dumb buffers with nonblocking atomic commits and waits for each
// page-flip event, and does nothing else: no Wayland, no clients, no ledger.
// What one flip costs here in CPU time is what the kernel and the driver
// charge for showing a new framebuffer; a compositor that scans client
// buffers out directly cannot do its frame for less, so tools/peer-bench
// divides zcpipe-compositor's CPU per frame by this program's.
//
// Per flip, the loop makes exactly two system calls:
//   ioctl(DRM_IOCTL_MODE_ATOMIC, NONBLOCK | PAGE_FLIP_EVENT)  — queue the flip
//   read(drm fd)                                               — block until the
//                                                                flip-complete event
// (a compositor would poll its event loop instead of blocking in read(); that
// is one more syscall per frame, and the honest difference between them).
//
// usage: zcpipe-flip-floor [--device /dev/dri/card0] [--frames N]
// Prints one JSON object on stdout when the N flips are done: the loop's CPU
// time from getrusage (setup excluded), its wall time and context switches,
// for running it by hand. tools/peer-bench does not wait for that: it runs
// the floor with a huge N and measures it exactly as it measures the
// compositors, over a window (CPU from /proc, syscalls, flips and per-flip
// CPU from one kernel trace), then stops it; the kernel frees the dumb
// buffers and framebuffers of a process that ends.
#include <fcntl.h>
#include <drm_fourcc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace {

int fail(const char* what) {
  std::fprintf(stderr, "zcpipe-flip-floor: %s: %s\n", what, std::strerror(errno));
  return 1;
}

// Property ids are per device: look each up by name on its object.
uint32_t prop_id(int fd, uint32_t obj, uint32_t type, const char* name) {
  drmModeObjectProperties* props = drmModeObjectGetProperties(fd, obj, type);
  uint32_t id = 0;
  for (uint32_t i = 0; props != nullptr && i < props->count_props && id == 0; ++i) {
    drmModePropertyRes* p = drmModeGetProperty(fd, props->props[i]);
    if (p != nullptr && std::strcmp(p->name, name) == 0) id = p->prop_id;
    drmModeFreeProperty(p);
  }
  drmModeFreeObjectProperties(props);
  return id;
}

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double tv_us(const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); }

bool g_flipped = false;
void on_flip(int, unsigned, unsigned, unsigned, void*) { g_flipped = true; }

struct Dumb {
  uint32_t handle = 0, pitch = 0, fb = 0;
  uint64_t size = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string device = "/dev/dri/card0";
  long frames = 300;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) device = argv[++i];
    else if (a == "--frames" && i + 1 < argc) {
      char* end = nullptr;
      frames = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || frames < 1 || frames > 10'000'000) {
        std::fprintf(stderr, "zcpipe-flip-floor: --frames %s: want a whole number from 1 to 10000000\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--device PATH] [--frames N]\n", argv[0]);
      return 2;
    }
  }
  const int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail(device.c_str());
  // Atomic needs universal planes: the primary plane becomes an object we set.
  if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) != 0 || drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) != 0)
    return fail("atomic modesetting");

  // The first connected connector, its preferred (first) mode, a CRTC it can
  // use, and that CRTC's primary plane: the same choice the compositor makes.
  drmModeRes* res = drmModeGetResources(fd);
  if (res == nullptr) return fail("drmModeGetResources");
  drmModeConnector* conn = nullptr;
  for (int i = 0; i < res->count_connectors && conn == nullptr; ++i) {
    drmModeConnector* c = drmModeGetConnector(fd, res->connectors[i]);
    if (c != nullptr && c->connection == DRM_MODE_CONNECTED && c->count_modes > 0) conn = c;
    else drmModeFreeConnector(c);
  }
  if (conn == nullptr) {
    std::fprintf(stderr, "zcpipe-flip-floor: no connected connector on %s\n", device.c_str());
    return 1;
  }
  drmModeModeInfo mode = conn->modes[0];
  for (int i = 0; i < conn->count_modes; ++i)
    if ((conn->modes[i].type & DRM_MODE_TYPE_PREFERRED) != 0) mode = conn->modes[i];
  int crtc_index = -1;
  for (int e = 0; e < conn->count_encoders && crtc_index < 0; ++e) {
    drmModeEncoder* enc = drmModeGetEncoder(fd, conn->encoders[e]);
    for (int c = 0; enc != nullptr && c < res->count_crtcs && crtc_index < 0; ++c)
      if ((enc->possible_crtcs & (1u << c)) != 0) crtc_index = c;
    drmModeFreeEncoder(enc);
  }
  if (crtc_index < 0) {
    std::fprintf(stderr, "zcpipe-flip-floor: no CRTC for connector %u\n", conn->connector_id);
    return 1;
  }
  const uint32_t crtc = res->crtcs[crtc_index];
  uint32_t plane = 0;
  drmModePlaneRes* planes = drmModeGetPlaneResources(fd);
  const uint32_t type_prop_plane_count = planes != nullptr ? planes->count_planes : 0;
  for (uint32_t i = 0; i < type_prop_plane_count && plane == 0; ++i) {
    drmModePlane* p = drmModeGetPlane(fd, planes->planes[i]);
    if (p != nullptr && (p->possible_crtcs & (1u << crtc_index)) != 0) {
      drmModeObjectProperties* props = drmModeObjectGetProperties(fd, p->plane_id, DRM_MODE_OBJECT_PLANE);
      for (uint32_t k = 0; props != nullptr && k < props->count_props; ++k) {
        drmModePropertyRes* pr = drmModeGetProperty(fd, props->props[k]);
        if (pr != nullptr && std::strcmp(pr->name, "type") == 0 && props->prop_values[k] == DRM_PLANE_TYPE_PRIMARY)
          plane = p->plane_id;
        drmModeFreeProperty(pr);
      }
      drmModeFreeObjectProperties(props);
    }
    drmModeFreePlane(p);
  }
  drmModeFreePlaneResources(planes);
  if (plane == 0) {
    std::fprintf(stderr, "zcpipe-flip-floor: no primary plane for CRTC %u\n", crtc);
    return 1;
  }

  // Three mode-sized XRGB8888 dumb buffers, each filled once (setup, not
  // measured) so a screendump would show the flips, then registered as
  // framebuffers. The loop only ever changes which one the plane reads.
  const uint32_t w = mode.hdisplay, h = mode.vdisplay;
  Dumb bufs[3];
  for (int i = 0; i < 3; ++i) {
    drm_mode_create_dumb create{};
    create.width = w;
    create.height = h;
    create.bpp = 32;
    if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create) != 0) return fail("DRM_IOCTL_MODE_CREATE_DUMB");
    bufs[i] = {create.handle, create.pitch, 0, create.size};
    drm_mode_map_dumb map{};
    map.handle = create.handle;
    if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &map) != 0) return fail("DRM_IOCTL_MODE_MAP_DUMB");
    void* px = ::mmap(nullptr, create.size, PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(map.offset));
    if (px == MAP_FAILED) return fail("mmap dumb buffer");
    std::memset(px, 0x40 * (i + 1), create.size);
    ::munmap(px, create.size);
    const uint32_t handles[4] = {create.handle}, pitches[4] = {create.pitch}, offsets[4] = {0};
    if (drmModeAddFB2(fd, w, h, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &bufs[i].fb, 0) != 0)
      return fail("drmModeAddFB2");
  }

  const uint32_t p_fb = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "FB_ID");
  const uint32_t p_crtc = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_ID");
  const uint32_t p_sx = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_X"), p_sy = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_Y");
  const uint32_t p_sw = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_W"), p_sh = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_H");
  const uint32_t p_cx = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_X"), p_cy = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_Y");
  const uint32_t p_cw = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_W"), p_ch = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_H");
  const uint32_t p_active = prop_id(fd, crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE");
  const uint32_t p_mode = prop_id(fd, crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID");
  const uint32_t p_conn_crtc = prop_id(fd, conn->connector_id, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID");
  uint32_t mode_blob = 0;
  if (drmModeCreatePropertyBlob(fd, &mode, sizeof mode, &mode_blob) != 0) return fail("drmModeCreatePropertyBlob");

  // The modeset: one blocking commit that lights the CRTC with buffer 0.
  drmModeAtomicReq* req = drmModeAtomicAlloc();
  drmModeAtomicAddProperty(req, conn->connector_id, p_conn_crtc, crtc);
  drmModeAtomicAddProperty(req, crtc, p_active, 1);
  drmModeAtomicAddProperty(req, crtc, p_mode, mode_blob);
  drmModeAtomicAddProperty(req, plane, p_fb, bufs[0].fb);
  drmModeAtomicAddProperty(req, plane, p_crtc, crtc);
  drmModeAtomicAddProperty(req, plane, p_sx, 0);
  drmModeAtomicAddProperty(req, plane, p_sy, 0);
  drmModeAtomicAddProperty(req, plane, p_sw, static_cast<uint64_t>(w) << 16);  // 16.16 fixed point
  drmModeAtomicAddProperty(req, plane, p_sh, static_cast<uint64_t>(h) << 16);
  drmModeAtomicAddProperty(req, plane, p_cx, 0);
  drmModeAtomicAddProperty(req, plane, p_cy, 0);
  drmModeAtomicAddProperty(req, plane, p_cw, w);
  drmModeAtomicAddProperty(req, plane, p_ch, h);
  if (drmModeAtomicCommit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, nullptr) != 0) return fail("modeset commit");
  drmModeAtomicFree(req);

  // One request per buffer, built before the loop: a flip changes only the
  // plane's FB_ID, and building requests is user-space work the floor should
  // not pay per frame (nor does a compositor that keeps its state).
  drmModeAtomicReq* flips[3];
  for (int i = 0; i < 3; ++i) {
    flips[i] = drmModeAtomicAlloc();
    drmModeAtomicAddProperty(flips[i], plane, p_fb, bufs[i].fb);
  }
  drmEventContext ev{};
  ev.version = 2;
  ev.page_flip_handler = on_flip;

  rusage r0{}, r1{};
  ::getrusage(RUSAGE_SELF, &r0);
  const double t0 = now_s();
  for (long f = 0; f < frames; ++f) {
    if (drmModeAtomicCommit(fd, flips[(f + 1) % 3], DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT, nullptr) != 0)
      return fail("page-flip commit");
    g_flipped = false;
    while (!g_flipped)
      if (drmHandleEvent(fd, &ev) != 0) return fail("drmHandleEvent");  // blocking read() of the DRM fd
  }
  const double t1 = now_s();
  ::getrusage(RUSAGE_SELF, &r1);

  const double n = static_cast<double>(frames);
  const double user = tv_us(r1.ru_utime) - tv_us(r0.ru_utime), sys = tv_us(r1.ru_stime) - tv_us(r0.ru_stime);
  std::printf("{\"program\":\"zcpipe-flip-floor\",\"device\":\"%s\",\"width\":%u,\"height\":%u,\"frames\":%ld,"
              "\"wall_s\":%.6f,\"fps\":%.3f,\"cpu_us_per_flip\":%.3f,\"user_us_per_flip\":%.3f,\"sys_us_per_flip\":%.3f,"
              "\"voluntary_switches_per_flip\":%.4f,\"involuntary_switches_per_flip\":%.4f,\"syscalls_per_flip_by_construction\":2}\n",
              device.c_str(), w, h, frames, t1 - t0, n / (t1 - t0), (user + sys) / n, user / n, sys / n,
              static_cast<double>(r1.ru_nvcsw - r0.ru_nvcsw) / n, static_cast<double>(r1.ru_nivcsw - r0.ru_nivcsw) / n);

  for (auto* q : flips) drmModeAtomicFree(q);
  // Closing the fd would turn the CRTC off and drop the framebuffers anyway;
  // freeing them here keeps the program a fair model of one that cleans up.
  drmModeDestroyPropertyBlob(fd, mode_blob);
  for (auto& b : bufs) {
    drmModeRmFB(fd, b.fb);
    drm_mode_destroy_dumb destroy{};
    destroy.handle = b.handle;
    drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
  }
  drmModeFreeConnector(conn);
  drmModeFreeResources(res);
  ::close(fd);
  return 0;
}
