// Fuzz target: the wl_shm buffer geometry check (src/server/shm_geometry.*).
//
// check_shm_geometry() is the only thing between a client's
// wl_shm_pool.create_buffer arguments and the compositor's copy of that
// buffer's rows out of the pool. So the property is the copy itself: for any
// accepted geometry, every byte the copy touches lies inside the pool:
//
//     offset + stride × (height - 1) + width × bpp  <=  pool_size
//
// checked arithmetically for every input, and for pools up to 256 KiB also
// for real: the rows are read out of a heap block of exactly pool_size bytes,
// the way the compositor reads them, so AddressSanitizer stops on the first
// byte past the end.
#include <wayland-server-protocol.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/format.h"
#include "fuzz_check.h"
#include "server/shm_geometry.h"

namespace {

template <typename T>
T take(const uint8_t*& p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}

// wl_shm's codes are DRM fourccs except its first two.
uint32_t drm_fourcc(uint32_t wl_shm_format) {
  if (wl_shm_format == WL_SHM_FORMAT_ARGB8888) return 0x34325241u;
  if (wl_shm_format == WL_SHM_FORMAT_XRGB8888) return 0x34325258u;
  return wl_shm_format;
}

// Formats a client would really send, so the fuzzer reaches the size checks
// instead of spending its time on unknown fourccs. One input byte picks one;
// other byte values take the raw 32-bit format from the input.
constexpr uint32_t kFormats[] = {WL_SHM_FORMAT_ARGB8888, WL_SHM_FORMAT_XRGB8888, WL_SHM_FORMAT_XBGR8888,
                                 WL_SHM_FORMAT_ABGR8888, WL_SHM_FORMAT_RGB888, WL_SHM_FORMAT_RGB565};

constexpr size_t kRealReadLimit = 256 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kNeed = 4 * sizeof(int32_t) + sizeof(uint32_t) + 1 + sizeof(uint64_t);
  if (size < kNeed) return -1;
  const uint8_t* p = data;
  const int32_t width = take<int32_t>(p);
  const int32_t height = take<int32_t>(p);
  const int32_t stride = take<int32_t>(p);
  const int32_t offset = take<int32_t>(p);
  const uint32_t raw_format = take<uint32_t>(p);
  const uint8_t pick = take<uint8_t>(p);
  uint64_t pool = take<uint64_t>(p);
  const uint32_t format = pick < 6 * 32 ? kFormats[pick % 6] : raw_format;
  // Pools are mmap'ed files: at most what an int32 size in wl_shm.create_pool
  // (and resize) can say. Half the inputs get small pools, where the real read runs.
  pool = (pick & 1) ? pool % (kRealReadLimit + 1) : pool % (uint64_t{INT32_MAX} + 1);

  const auto err = zc::server::check_shm_geometry(width, height, stride, format, offset, static_cast<size_t>(pool));
  if (err) {
    FUZZ_CHECK(err->code == WL_SHM_ERROR_INVALID_FORMAT || err->code == WL_SHM_ERROR_INVALID_STRIDE ||
                   err->code == WL_SHM_ERROR_INVALID_FD,
               "unknown wl_shm error %u", err->code);
    FUZZ_CHECK(!err->message.empty(), "empty message for wl_shm error %u", err->code);
    return 0;
  }

  const zc::FormatInfo* info = zc::format_info(drm_fourcc(format));
  FUZZ_CHECK(info != nullptr, "format 0x%x accepted but unknown", format);
  FUZZ_CHECK(width > 0 && height > 0 && offset >= 0 && stride > 0, "accepted %dx%d stride %d offset %d", width,
             height, stride, offset);
  const uint64_t row = uint64_t(width) * info->bytes_per_pixel;
  FUZZ_CHECK(uint64_t(stride) >= row, "stride %d < row %llu accepted", stride, static_cast<unsigned long long>(row));
  // 31-bit operands: no overflow in 64 bits.
  const uint64_t last = uint64_t(offset) + uint64_t(stride) * uint64_t(height - 1) + row;
  FUZZ_CHECK(last <= pool, "%dx%d stride %d offset %d: reads up to byte %llu of a %llu-byte pool", width, height,
             stride, offset, static_cast<unsigned long long>(last), static_cast<unsigned long long>(pool));

  if (pool <= kRealReadLimit && pool > 0) {
    // The copy, for real, from a block exactly as large as the pool.
    auto* block = static_cast<uint8_t*>(std::malloc(pool));
    std::memset(block, 0x5a, pool);
    std::vector<uint8_t> dst(row);
    uint64_t sum = 0;
    for (int32_t y = 0; y < height; ++y) {
      std::memcpy(dst.data(), block + uint64_t(offset) + uint64_t(stride) * uint64_t(y), row);
      sum += dst[0] + dst[row - 1];
    }
    std::free(block);
    FUZZ_CHECK(sum == uint64_t(height) * 2 * 0x5a, "rows read back wrong bytes");
  }
  return 0;
}
