// vm check: what we put on the display is what the display shows.
//
// A 3840x2160 dumb buffer gets a pattern in which every pixel differs from
// its neighbours, goes on the CRTC with a legacy drmModeSetCrtc, and then the
// host (tools/vm-run, QMP "screendump") saves what QEMU's display holds. We
// compare that PPM with the pattern pixel by pixel, then put the CRTC back
// the way we found it.
//
// Dumb buffers are the simplest scanout buffers: CPU memory the display can
// read, no GPU, no GBM. If this check fails, nothing above it (GBM, dma-buf,
// the compositor) can work either.
//
// Exit: 0 pass, 1 fail, 77 skip (not inside tools/vm-run, or no DRM device).
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/clock.h"
#include "common/unique_fd.h"
#include "screendump.h"

namespace {

constexpr uint32_t kWidth = 3840, kHeight = 2160;
constexpr int kSkip = 77;

// R = x mod 256, G = y mod 256, B = the 256-pixel tile (x/256, y/256): no two
// pixels of the frame share a colour, so a shifted row, a wrong stride, a
// flipped image or swapped channels all show up as mismatches.
uint32_t pattern(uint32_t x, uint32_t y) {
  const uint32_t r = x & 0xff, g = y & 0xff, b = ((x >> 8) << 4 | (y >> 8)) & 0xff;
  return r << 16 | g << 8 | b;  // XRGB8888: a little-endian 32-bit word 0xXXRRGGBB
}

// Thrown, not exit()ed, so the destructors below put the display back.
struct Stop {
  int code;
  std::string why;
};
[[noreturn]] void skip(const std::string& why) { throw Stop{kSkip, "SKIP: " + why}; }
[[noreturn]] void fail(const std::string& why) { throw Stop{1, "FAIL: " + why}; }

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

// Owns everything we create on the device and undoes it in reverse order,
// including the CRTC state we changed.
class Scanout {
 public:
  explicit Scanout(int fd) : fd_(fd) {}
  Scanout(const Scanout&) = delete;
  Scanout& operator=(const Scanout&) = delete;
  ~Scanout() {
    if (saved_) {
      // Put back what was there: an active CRTC gets its old framebuffer
      // and mode again, an idle one is switched off.
      if (saved_->mode_valid != 0)
        drmModeSetCrtc(fd_, saved_->crtc_id, saved_->buffer_id, saved_->x, saved_->y, &connector_, 1, &saved_->mode);
      else
        drmModeSetCrtc(fd_, saved_->crtc_id, 0, 0, 0, nullptr, 0, nullptr);
      drmModeFreeCrtc(saved_);
    }
    if (fb_ != 0) drmModeRmFB(fd_, fb_);
    if (map_ != MAP_FAILED) ::munmap(map_, size_);
    if (handle_ != 0) drmModeDestroyDumbBuffer(fd_, handle_);
  }

  void create_dumb() {
    uint32_t pitch = 0;
    uint64_t size = 0;
    if (drmModeCreateDumbBuffer(fd_, kWidth, kHeight, 32, 0, &handle_, &pitch, &size) != 0)
      fail(errno_text("DRM_IOCTL_MODE_CREATE_DUMB"));
    pitch_ = pitch;
    size_ = size;
    // A dumb buffer is mapped through the DRM fd at a fake offset the
    // kernel hands out for this buffer.
    uint64_t offset = 0;
    if (drmModeMapDumbBuffer(fd_, handle_, &offset) != 0) fail(errno_text("DRM_IOCTL_MODE_MAP_DUMB"));
    map_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, static_cast<off_t>(offset));
    if (map_ == MAP_FAILED) fail(errno_text("mmap of the dumb buffer"));
    uint32_t handles[4] = {handle_};
    uint32_t pitches[4] = {pitch_};
    uint32_t offsets[4] = {0};
    if (drmModeAddFB2(fd_, kWidth, kHeight, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &fb_, 0) != 0)
      fail(errno_text("drmModeAddFB2"));
  }

  void fill() {
    auto* base = static_cast<uint8_t*>(map_);
    for (uint32_t y = 0; y < kHeight; ++y) {
      auto* row = reinterpret_cast<uint32_t*>(base + size_t{y} * pitch_);
      for (uint32_t x = 0; x < kWidth; ++x) row[x] = pattern(x, y);
    }
  }

  void show(uint32_t crtc_id, uint32_t connector_id, drmModeModeInfo mode) {
    saved_ = drmModeGetCrtc(fd_, crtc_id);
    connector_ = connector_id;
    // The legacy path: one ioctl sets framebuffer, mode and connector. It
    // blocks until the new frame is on screen.
    if (drmModeSetCrtc(fd_, crtc_id, fb_, 0, 0, &connector_, 1, &mode) != 0) fail(errno_text("drmModeSetCrtc"));
  }

  uint32_t pitch() const { return pitch_; }

 private:
  int fd_;
  uint32_t handle_ = 0, pitch_ = 0, fb_ = 0, connector_ = 0;
  size_t size_ = 0;
  void* map_ = MAP_FAILED;
  drmModeCrtc* saved_ = nullptr;
};

void run(const std::string& device) {
  if (std::getenv("ZCPIPE_VM_CTL") == nullptr) skip("not inside tools/vm-run (no ZCPIPE_VM_CTL): no screendump");
  zc::UniqueFd fd{::open(device.c_str(), O_RDWR | O_CLOEXEC)};
  if (!fd) skip(errno_text(device.c_str()));

  // Find a connected connector offering 3840x2160 and a CRTC that can drive it.
  std::unique_ptr<drmModeRes, decltype(&drmModeFreeResources)> res{drmModeGetResources(fd.get()),
                                                                    drmModeFreeResources};
  if (!res) fail(errno_text("drmModeGetResources"));
  uint32_t connector_id = 0, crtc_id = 0;
  drmModeModeInfo mode{};
  for (int i = 0; i < res->count_connectors && connector_id == 0; ++i) {
    std::unique_ptr<drmModeConnector, decltype(&drmModeFreeConnector)> c{
        drmModeGetConnector(fd.get(), res->connectors[i]), drmModeFreeConnector};
    if (!c || c->connection != DRM_MODE_CONNECTED) continue;
    for (int m = 0; m < c->count_modes && connector_id == 0; ++m) {
      if (c->modes[m].hdisplay != kWidth || c->modes[m].vdisplay != kHeight) continue;
      mode = c->modes[m];
      connector_id = c->connector_id;
    }
    for (int e = 0; e < c->count_encoders && connector_id != 0 && crtc_id == 0; ++e) {
      std::unique_ptr<drmModeEncoder, decltype(&drmModeFreeEncoder)> enc{drmModeGetEncoder(fd.get(), c->encoders[e]),
                                                                        drmModeFreeEncoder};
      for (int k = 0; enc && k < res->count_crtcs && crtc_id == 0; ++k)
        if ((enc->possible_crtcs & (1u << k)) != 0) crtc_id = res->crtcs[k];
    }
  }
  if (connector_id == 0) fail("no connected connector offers 3840x2160");
  if (crtc_id == 0) fail("no CRTC can drive the connector");

  Scanout scanout{fd.get()};
  scanout.create_dumb();
  uint64_t t = zc::monotonic_ns();
  scanout.fill();
  const double fill_ms = static_cast<double>(zc::monotonic_ns() - t) / 1e6;
  t = zc::monotonic_ns();
  scanout.show(crtc_id, connector_id, mode);
  const double set_ms = static_cast<double>(zc::monotonic_ns() - t) / 1e6;
  fmt::print("dumb buffer {}x{} pitch {}: filled in {:.0f} ms, drmModeSetCrtc (connector {}, CRTC {}, {}@{}) "
             "{:.0f} ms\n",
             kWidth, kHeight, scanout.pitch(), fill_ms, connector_id, crtc_id, mode.name, mode.vrefresh, set_ms);

  t = zc::monotonic_ns();
  auto path = zcvm::request_screendump("screendump-roundtrip.ppm");
  if (!path) fail("screendump: " + path.error().message());
  auto ppm = zcvm::read_ppm(*path);
  if (!ppm) fail(ppm.error().message());
  fmt::print("screendump {} ({}x{}) in {:.0f} ms\n", *path, ppm->width, ppm->height,
             static_cast<double>(zc::monotonic_ns() - t) / 1e6);
  if (ppm->width != kWidth || ppm->height != kHeight)
    fail(fmt::format("the display shows {}x{}, expected {}x{}", ppm->width, ppm->height, kWidth, kHeight));

  // Every pixel. PPM is R, G, B bytes, top row first.
  uint64_t bad = 0;
  for (uint32_t y = 0; y < kHeight; ++y) {
    for (uint32_t x = 0; x < kWidth; ++x) {
      const uint32_t got = ppm->pixel(size_t{y} * kWidth + x);
      const uint32_t want = pattern(x, y);
      if (got == want) continue;
      if (bad < 5) fmt::print("  pixel ({}, {}): display 0x{:06x}, buffer 0x{:06x}\n", x, y, got, want);
      ++bad;
    }
  }
  if (bad != 0) fail(fmt::format("{} of {} pixels differ", bad, uint64_t{kWidth} * kHeight));
  fmt::print("all {} pixels on the display match the buffer\n", uint64_t{kWidth} * kHeight);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    run(argc > 1 ? argv[1] : "/dev/dri/card0");
  } catch (const Stop& stop) {
    fmt::print("{}\n", stop.why);
    return stop.code;
  }
  return 0;
}
