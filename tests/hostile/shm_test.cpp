// wl_shm and wl_shm_pool: buffers that do not fit their pool.
//
// libwayland 1.21 implements wl_shm and checks a buffer's stride against
// its width in pixels only: a 4-byte-per-pixel buffer with stride == width
// passes, and a copy of width x 4 bytes per row then reads past the pool's
// end (compositor memory on screen, or SIGSEGV). The compositor checks
// every buffer against its pool before reading it (server/shm_geometry.h)
// and posts wl_shm.invalid_stride naming the values.
#include <sys/mman.h>

#include "hostile.h"

namespace zch {
namespace {

// A wl_buffer of w x h with `stride`, in a pool of `pool_size` bytes.
wl_buffer* shm_buffer(RawClient& c, int32_t w, int32_t h, int32_t stride, int32_t pool_size,
                      uint32_t format = WL_SHM_FORMAT_XRGB8888) {
  const int fd = ::memfd_create("zcpipe-hostile-shm", MFD_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, pool_size) != 0) throw std::runtime_error("memfd");
  wl_shm_pool* pool = wl_shm_create_pool(c.shm(), fd, pool_size);
  ::close(fd);
  wl_buffer* b = wl_shm_pool_create_buffer(pool, 0, w, h, stride, format);
  wl_shm_pool_destroy(pool);
  c.own(b);
  return b;
}

void attach_commit(RawClient& c, wl_buffer* b) {
  wl_surface_attach(c.surface(), b, 0, 0);
  wl_surface_damage_buffer(c.surface(), 0, 0, INT32_MAX, INT32_MAX);
  c.commit();
  c.flush();
}

using ShmGeometry = Hostile;

// Stride in pixels instead of bytes: small (a leak of bytes past the pool)
// and large (rows reaching far past it: the crash).
TEST_F(ShmGeometry, StrideShorterThanARowIsInvalidStride) {
  start_witness();
  for (const auto& [w, h] : {std::pair{64, 64}, std::pair{8192, 8}, std::pair{640, 480}}) {
    RawClient bad(sc().socket_path());
    bad.make_window();
    attach_commit(bad, shm_buffer(bad, w, h, /*stride=*/w, /*pool=*/w * h));
    expect_error(bad.wait_error(10s), "wl_shm", WL_SHM_ERROR_INVALID_STRIDE);
    ASSERT_TRUE(sc().comp().process().running()) << "compositor died on a " << w << "x" << h << " buffer, stride " << w;
  }
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_GE(s["counters"]["protocol_errors"].get<int>(), 3);
}

// A 24-bit buffer one byte short per row.
TEST_F(ShmGeometry, Rgb888StrideOneByteShort) {
  start_witness();
  RawClient bad(sc().socket_path());
  bad.make_window();
  attach_commit(bad, shm_buffer(bad, 100, 100, 299, 299 * 100, /*RGB888*/ 0x34324752u));
  expect_error(bad.wait_error(10s), "wl_shm", WL_SHM_ERROR_INVALID_STRIDE);
  expect_witness_presented();
  expect_compositor_lived();
}

}  // namespace
}  // namespace zch
