// linux-dmabuf: buffers that are not what they claim, and malformed params.
//
// A dma-buf cannot change size; any other file a client passes can. The
// compositor must tell them apart by what the file is (its filesystem), not
// by its name, and accept other memory only when sealed against shrinking:
// otherwise the client truncates it after commit and the compositor's next
// CPU read of it (--verify's checksum, a copy) dies of SIGBUS.
#include <drm_fourcc.h>
#include <fcntl.h>

#include "../integration/wayland_conn.h"
#include "hostile.h"

namespace zch {
namespace {

using zct::Conn;
using zct::Window;

constexpr int32_t kBW = 64, kBH = 64;
constexpr size_t kBytes = size_t{kBW} * kBH * 4;

void expect_params_error(Conn& c, uint32_t code) {
  c.roundtrip();
  const Conn::ProtocolError e = c.protocol_error();
  EXPECT_EQ(e.error, EPROTO);
  ASSERT_NE(e.iface, nullptr);
  EXPECT_STREQ(e.iface->name, "zwp_linux_buffer_params_v1");
  EXPECT_EQ(e.code, code);
}

class Dmabuf : public Hostile {
  std::vector<std::string> extra_args() const override { return {"--verify"}; }
};

// A regular file whose /proc/self/fd link reads "/dmabuf:..." (the old test
// for a dma-buf). Taken for a dma-buf, it skipped the seal check; truncated
// after its first frame, the compositor's --verify read hit SIGBUS.
TEST_F(Dmabuf, RegularFileNamedLikeADmabufIsRefusedNotRead) {
  const std::string path = "/dmabuf:zcpipe-hostile-" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) GTEST_SKIP() << "cannot create " << path << " (needs write access to /): " << std::strerror(errno);
  ::unlink(path.c_str());
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kBytes)), 0);
  start_witness();
  {
    Conn conn(sc().socket_path());
    Window w;
    w.open(conn);
    xdg_surface_ack_configure(w.xsurface, w.serial);
    // The params object is kept until the end, so the error names its interface.
    zwp_linux_buffer_params_v1* p = conn.own(zwp_linux_dmabuf_v1_create_params(conn.dmabuf()));
    zwp_linux_buffer_params_v1_add(p, fd, 0, 0, kBW * 4, 0, 0);
    wl_buffer* b = conn.own(zwp_linux_buffer_params_v1_create_immed(p, kBW, kBH, DRM_FORMAT_XRGB8888, 0));
    wl_surface_attach(w.surface, b, 0, 0);
    wl_surface_commit(w.surface);
    conn.roundtrip();
    conn.roundtrip();  // shown and read once, if it was accepted
    ASSERT_EQ(::ftruncate(fd, 0), 0);
    wl_surface_attach(w.surface, b, 0, 0);
    wl_surface_commit(w.surface);
    expect_params_error(conn, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER);
  }
  ::close(fd);
  ASSERT_TRUE(sc().comp().process().running()) << "the compositor died reading a truncated file";
  expect_witness_presented();
  expect_compositor_lived();
}

// A memfd sealed against shrinking is shared memory the compositor may read:
// the client cannot truncate it any more.
TEST_F(Dmabuf, SealedMemfdIsAcceptedAndCannotBeShrunk) {
  start_witness();
  {
    Conn conn(sc().socket_path());
    Window w;
    w.open(conn);
    xdg_surface_ack_configure(w.xsurface, w.serial);
    const int fd = zct::make_memfd(kBytes, /*sealed=*/true);
    wl_buffer* b = conn.make_buffer(kBW, kBH, fd);
    wl_surface_attach(w.surface, b, 0, 0);
    wl_surface_commit(w.surface);
    EXPECT_EQ(conn.roundtrip(), 0);
    EXPECT_NE(::ftruncate(fd, 0), 0);
    EXPECT_EQ(errno, EPERM);
    ::close(fd);
    wl_surface_attach(w.surface, b, 0, 0);
    wl_surface_commit(w.surface);
    EXPECT_EQ(conn.roundtrip(), 0);
  }
  expect_witness_presented();
  expect_compositor_lived();
}

// Malformed params from one client after another, the witness presenting.
TEST_F(Dmabuf, MalformedParamsAreProtocolErrors) {
  start_witness();
  struct Case {
    const char* name;
    uint32_t code;
    wl_buffer* (*send)(zwp_linux_buffer_params_v1*, int fd);  // the buffer made, if any
  };
  const Case cases[] = {
      {"plane index 4", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX,
       [](auto* p, int fd) -> wl_buffer* {
         zwp_linux_buffer_params_v1_add(p, fd, 4, 0, kBW * 4, 0, 0);
         return nullptr;
       }},
      {"stride shorter than a row", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS,
       [](auto* p, int fd) -> wl_buffer* {
         zwp_linux_buffer_params_v1_add(p, fd, 0, 0, kBW * 4 - 1, 0, 0);
         return zwp_linux_buffer_params_v1_create_immed(p, kBW, kBH, DRM_FORMAT_XRGB8888, 0);
       }},
      {"offset past the end", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS,
       [](auto* p, int fd) -> wl_buffer* {
         zwp_linux_buffer_params_v1_add(p, fd, 0, 0xfffffff0u, kBW * 4, 0, 0);
         return zwp_linux_buffer_params_v1_create_immed(p, kBW, kBH, DRM_FORMAT_XRGB8888, 0);
       }},
      {"negative size", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS,
       [](auto* p, int fd) -> wl_buffer* {
         zwp_linux_buffer_params_v1_add(p, fd, 0, 0, kBW * 4, 0, 0);
         return zwp_linux_buffer_params_v1_create_immed(p, -1, kBH, DRM_FORMAT_XRGB8888, 0);
       }},
      {"unknown format", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT,
       [](auto* p, int fd) -> wl_buffer* {
         zwp_linux_buffer_params_v1_add(p, fd, 0, 0, kBW * 4, 0, 0);
         return zwp_linux_buffer_params_v1_create_immed(p, kBW, kBH, fourcc_code('N', 'V', '1', '2'), 0);
       }},
      {"a pipe instead of memory", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER,
       [](auto* p, int) -> wl_buffer* {
         int pp[2];
         if (::pipe2(pp, O_CLOEXEC) != 0) return nullptr;
         zwp_linux_buffer_params_v1_add(p, pp[0], 0, 0, kBW * 4, 0, 0);
         ::close(pp[0]);
         ::close(pp[1]);
         return zwp_linux_buffer_params_v1_create_immed(p, kBW, kBH, DRM_FORMAT_XRGB8888, 0);
       }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Conn conn(sc().socket_path());
    zwp_linux_buffer_params_v1* p = zwp_linux_dmabuf_v1_create_params(conn.dmabuf());
    const int fd = zct::make_memfd(kBytes);
    conn.own(k.send(p, fd));
    ::close(fd);
    expect_params_error(conn, k.code);
    zwp_linux_buffer_params_v1_destroy(p);
  }
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_EQ(s["counters"]["protocol_errors"].get<size_t>(), std::size(cases));
}

}  // namespace
}  // namespace zch
