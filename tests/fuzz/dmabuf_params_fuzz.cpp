// Fuzz target: linux-dmabuf params validation (src/server/dmabuf_params.*)
// and the Dmabuf descriptor's own validate() (src/buffer/dmabuf.*).
//
// A client builds a zwp_linux_buffer_params_v1 with add() requests (plane
// index, fd, offset, stride, modifier) and finishes it with create() or
// create_immed() (width, height, format, flags). The input bytes are read as
// such a sequence of requests, applied to the compositor's checks exactly as
// linux_dmabuf.cpp applies them, while the harness keeps its own model of
// what a correct check must decide. Properties:
//   - add() is refused exactly when the protocol says so (used params, plane
//     index out of range, plane already set, a modifier differing from an
//     earlier plane's);
//   - an accepted create() describes a buffer the compositor can read
//     without leaving the dma-buf: planes 0..n-1 set, n = the format's plane
//     count, a supported (format, modifier), 1..16384 pixels each way, every
//     stride >= width × bpp, every plane's offset + stride × height within
//     the fd's size, flags only y_invert; the result equals what was asked,
//     and Dmabuf::validate() (the check every other path uses) agrees;
//   - every refusal carries a protocol error code and a message.
// The fds are real: dups of one memfd whose size the input chooses.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "common/format.h"
#include "fuzz_check.h"
#include "linux-dmabuf-unstable-v1-server-protocol.h"
#include "server/dmabuf_params.h"

namespace {

using zc::buffer::kMaxDimension;
using zc::buffer::kMaxPlanes;
using zc::server::ParamsError;
using zc::server::ParamsState;

// Reads fixed-size values from the input; past its end, zeros.
struct Input {
  const uint8_t* p;
  size_t left;
  template <typename T>
  T take() {
    T v{};
    const size_t n = left < sizeof v ? left : sizeof v;
    std::memcpy(&v, p, n);
    p += n;
    left -= n;
    return v;
  }
};

// Values a real client sends, picked by one input byte so the fuzzer reaches
// the deeper checks; byte values past the table use raw input.
constexpr uint64_t kModifiers[] = {DRM_FORMAT_MOD_LINEAR, DRM_FORMAT_MOD_INVALID, I915_FORMAT_MOD_X_TILED};
constexpr uint32_t kFormats[] = {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888,
                                 DRM_FORMAT_ABGR8888, DRM_FORMAT_RGB888, DRM_FORMAT_NV12};

// The display the fuzzed compositor drives: LINEAR and implicit modifiers of
// the 32-bit formats, and the 24-bit format only linear (copied).
bool supported(uint32_t format, uint64_t modifier) {
  if (modifier != DRM_FORMAT_MOD_LINEAR && modifier != DRM_FORMAT_MOD_INVALID) return false;
  if (format == DRM_FORMAT_RGB888) return modifier == DRM_FORMAT_MOD_LINEAR;
  return zc::format_info(format) != nullptr;
}

int memfd() {
  static const int fd = ::memfd_create("fuzz-dmabuf", MFD_CLOEXEC);
  return fd;
}

void check_error(const ParamsError& e) {
  FUZZ_CHECK(e.code <= ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER, "unknown error code %u", e.code);
  FUZZ_CHECK(!e.message.empty(), "empty message for code %u", e.code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  // The dma-buf's size: at most 64 MiB (sparse memfd, nothing is allocated).
  const uint64_t fd_bytes = in.take<uint32_t>() % (64u << 20);
  FUZZ_CHECK(memfd() >= 0 && ::ftruncate(memfd(), static_cast<off_t>(fd_bytes)) == 0, "memfd setup failed");

  ParamsState s;
  std::array<bool, kMaxPlanes> set{};
  std::array<uint64_t, kMaxPlanes> mods{};
  bool used = false;

  for (int op = 0; op < 8 && in.left > 0; ++op) {
    const uint8_t kind = in.take<uint8_t>();
    if (kind % 4 != 3) {  // add(plane_idx, fd, offset, stride, modifier_hi, modifier_lo)
      const uint32_t idx = in.take<uint8_t>() % 6;  // 4 and 5 are out of range
      const uint32_t offset = in.take<uint32_t>();
      const uint32_t stride = in.take<uint32_t>();
      const uint8_t mpick = in.take<uint8_t>();
      const uint64_t modifier = mpick < 3 * 64 ? kModifiers[mpick % 3] : in.take<uint64_t>();

      bool differs = false;
      for (uint32_t i = 0; i < kMaxPlanes; ++i) differs |= set[i] && mods[i] != modifier;
      const bool must_refuse = used || idx >= kMaxPlanes || set[idx] || differs;
      const auto err = zc::server::check_add(s, idx, modifier);
      FUZZ_CHECK(err.has_value() == must_refuse, "add(plane %u, modifier 0x%llx) %s (used %d, set %d, differs %d)",
                 idx, static_cast<unsigned long long>(modifier), err ? "refused" : "accepted", used,
                 idx < kMaxPlanes && set[idx], differs);
      if (err) {
        check_error(*err);
        FUZZ_CHECK(err->kind == ParamsError::Kind::protocol, "add refused without a protocol error");
        continue;
      }
      // What linux_dmabuf.cpp's params_add does next.
      auto& p = s.planes[idx];
      p.fd = zc::UniqueFd{::fcntl(memfd(), F_DUPFD_CLOEXEC, 0)};
      FUZZ_CHECK(p.fd.get() >= 0, "dup failed");
      p.offset = offset;
      p.stride = stride;
      p.modifier = modifier;
      p.set = true;
      set[idx] = true;
      mods[idx] = modifier;
      continue;
    }

    // create(width, height, format, flags)
    const int32_t width = in.take<int32_t>() % 20000;
    const int32_t height = in.take<int32_t>() % 20000;
    const uint8_t fpick = in.take<uint8_t>();
    const uint32_t format = fpick < 6 * 40 ? kFormats[fpick % 6] : in.take<uint32_t>();
    const uint32_t flags = in.take<uint8_t>() < 200 ? 0 : in.take<uint32_t>();
    const bool was_used = used;
    used = true;

    zc::buffer::Dmabuf out;
    const auto err = zc::server::check_create(s, width, height, format, flags, supported, out);
    if (err) {
      check_error(*err);
      continue;
    }
    FUZZ_CHECK(!was_used, "create accepted twice on one params object");
    const zc::FormatInfo* info = zc::format_info(format);
    FUZZ_CHECK(info != nullptr && supported(format, out.modifier), "unsupported format 0x%x modifier 0x%llx accepted",
               format, static_cast<unsigned long long>(out.modifier));
    FUZZ_CHECK(out.num_planes == info->planes, "%u planes accepted for a %u-plane format", out.num_planes,
               info->planes);
    for (uint32_t i = 0; i < kMaxPlanes; ++i)
      FUZZ_CHECK(set[i] == (i < out.num_planes), "plane %u set=%d with %u planes accepted", i, set[i], out.num_planes);
    FUZZ_CHECK(width >= 1 && height >= 1 && uint32_t(width) <= kMaxDimension && uint32_t(height) <= kMaxDimension,
               "size %dx%d accepted", width, height);
    FUZZ_CHECK(out.width == uint32_t(width) && out.height == uint32_t(height) && out.format == format,
               "result differs from the request");
    FUZZ_CHECK((flags & ~uint32_t{ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT}) == 0, "flags 0x%x accepted", flags);
    FUZZ_CHECK(out.y_invert == ((flags & ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT) != 0), "y_invert lost");
    const uint64_t row = uint64_t(out.width) * info->bytes_per_pixel;
    for (uint32_t i = 0; i < out.num_planes; ++i) {
      const auto& pl = out.planes[i];
      FUZZ_CHECK(pl.fd.get() >= 0, "plane %u fd not handed over", i);
      FUZZ_CHECK(mods[i] == out.modifier, "plane %u modifier differs", i);
      FUZZ_CHECK(pl.stride >= row, "plane %u stride %u < row %llu", i, pl.stride, static_cast<unsigned long long>(row));
      const uint64_t extent = uint64_t(pl.offset) + uint64_t(pl.stride) * out.height;
      FUZZ_CHECK(extent <= fd_bytes && pl.offset < fd_bytes, "plane %u: offset %u + stride %u x %u = %llu past %llu",
                 i, pl.offset, pl.stride, out.height, static_cast<unsigned long long>(extent),
                 static_cast<unsigned long long>(fd_bytes));
    }
    const auto v = out.validate();
    FUZZ_CHECK(!v, "check_create accepted what Dmabuf::validate() refuses: %s", v->message.c_str());
  }
  return 0;
}
