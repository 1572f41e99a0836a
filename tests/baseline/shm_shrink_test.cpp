// wl_shm: a client that shrinks its pool's file under the compositor.
//
// The compositor copies a wl_shm buffer into its own scanout buffer (the 1
// copy of the shm transport). If the client truncates the memfd behind the
// pool (it never sealed it), reading the mapping raises SIGBUS. The copy is
// bracketed by wl_shm_buffer_begin_access/end_access, so libwayland catches
// the signal, and end_access posts WL_SHM_ERROR_INVALID_FD to that client.
// The compositor must live on: it serves well-behaved clients afterwards and
// exits 0 on SIGTERM.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include "scenario.h"

namespace zcb {
namespace {

// A 640x480 XRGB8888 buffer in a pool on an unsealed memfd; the fd is returned.
int make_shm_buffer(RawClient& c, wl_buffer** out) {
  const int32_t stride = static_cast<int32_t>(kW) * 4;
  const int32_t size = stride * static_cast<int32_t>(kH);
  const int fd = ::memfd_create("zcpipe-baseline-shrink", MFD_CLOEXEC);  // no MFD_ALLOW_SEALING
  if (fd < 0 || ::ftruncate(fd, size) != 0) throw std::runtime_error(std::string("memfd: ") + std::strerror(errno));
  wl_shm_pool* pool = wl_shm_create_pool(c.shm(), fd, size);
  *out = wl_shm_pool_create_buffer(pool, 0, static_cast<int32_t>(kW), static_cast<int32_t>(kH), stride,
                                   WL_SHM_FORMAT_XRGB8888);
  wl_shm_pool_destroy(pool);
  c.own(*out);
  return fd;
}

TEST(BaselineShm, PoolShrunkBeforeCommitIsAClientErrorNotACrash) {
  Scenario sc(/*refresh=*/0);
  {
    RawClient bad(sc.socket_path());
    bad.make_window();
    wl_buffer* buf = nullptr;
    const int fd = make_shm_buffer(bad, &buf);
    // The compositor has mapped the pool (create_pool) before we shrink it.
    ASSERT_TRUE(bad.roundtrip()) << RawClient::describe(bad.error());
    ASSERT_EQ(::ftruncate(fd, 0), 0);
    ::close(fd);
    bad.request_feedback();
    wl_surface_attach(bad.surface(), buf, 0, 0);
    wl_surface_damage_buffer(bad.surface(), 0, 0, INT32_MAX, INT32_MAX);
    bad.commit();
    bad.flush();
    const RawClient::ProtocolError e = bad.wait_error(15s);
    EXPECT_EQ(e.error, EPROTO) << RawClient::describe(e);
    EXPECT_TRUE(e.iface == "wl_buffer" || e.iface == "wl_shm") << RawClient::describe(e);
    EXPECT_EQ(e.code, static_cast<uint32_t>(WL_SHM_ERROR_INVALID_FD)) << RawClient::describe(e);
  }
  ASSERT_TRUE(sc.comp().process().running()) << "the compositor died on a shrunk wl_shm pool";

  // Still serving: wl_shm again (the path that faulted) and the socket baseline.
  sc.run_good_client("good-shm", "shm", 50);
  sc.run_good_client("good-socket", "socket", kGoodFrames);

  const json s = sc.stop();
  const json& c = s["counters"];
  EXPECT_EQ(c["clients_connected"], 3);
  EXPECT_EQ(c["clients_disconnected"], 3);
  // libwayland posts the error itself (not through the compositor's
  // post_error), so protocol_errors may not count it; the good frames must all be there.
  EXPECT_GE(c["presented"].get<int>(), 50 + kGoodFrames);
  EXPECT_LE(c["presented"].get<int>(), 50 + kGoodFrames + 1);
}

// The same while a good socket client streams: every good frame is
// presented or discarded (the bad window may cover it for a moment), and the
// compositor exits 0.
TEST(BaselineShm, PoolShrunkWhileAnotherClientStreams) {
  Scenario sc(/*refresh=*/60);
  auto good = sc.start_client("good", "socket", kGoodFrames);
  std::this_thread::sleep_for(200ms);
  {
    RawClient bad(sc.socket_path());
    bad.make_window();
    wl_buffer* buf = nullptr;
    const int fd = make_shm_buffer(bad, &buf);
    ASSERT_TRUE(bad.roundtrip());
    ASSERT_EQ(::ftruncate(fd, 0), 0);
    ::close(fd);
    wl_surface_attach(bad.surface(), buf, 0, 0);
    bad.commit();
    bad.flush();
    const RawClient::ProtocolError e = bad.wait_error(15s);
    EXPECT_EQ(e.error, EPROTO) << RawClient::describe(e);
    EXPECT_EQ(e.code, static_cast<uint32_t>(WL_SHM_ERROR_INVALID_FD)) << RawClient::describe(e);
  }
  const json g = sc.finish_client(*good, "good");
  EXPECT_EQ(g["error"], "");
  EXPECT_EQ(g["frames_presented"].get<int>() + g["frames_discarded"].get<int>(), kGoodFrames);
  EXPECT_TRUE(sc.comp().process().running());
  const json s = sc.stop();
  EXPECT_EQ(s["counters"]["clients_connected"], 2);
  EXPECT_EQ(s["counters"]["clients_disconnected"], 2);
}

}  // namespace
}  // namespace zcb
