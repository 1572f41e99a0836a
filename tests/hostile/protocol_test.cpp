// Malformed requests on the core, xdg-shell, wl_shm and wp_presentation
// objects, floods, clients that never read, die mid-frame, or come by the
// hundred. For each: the offender gets a protocol error (interface and
// code) or is dropped, the compositor lives, and the witness keeps
// presenting at a live rate throughout.
#include <sys/mman.h>
#include <sys/wait.h>

#include "hostile.h"

namespace zch {
namespace {

using Protocol = Hostile;

// One fresh client per case; `act` sends the mistake.
struct ErrorCase {
  const char* name;
  const char* iface;
  uint32_t code;
  void (*act)(RawClient&);
};

int pool_fd(int32_t size) {
  const int fd = ::memfd_create("zcpipe-hostile", MFD_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, size) != 0) throw std::runtime_error("memfd");
  return fd;
}

TEST_F(Protocol, MalformedRequestsAreProtocolErrors) {
  start_witness("shm", 240);
  const ErrorCase cases[] = {
      {"wl_surface.set_buffer_transform 90", "wl_surface", WL_SURFACE_ERROR_INVALID_TRANSFORM,
       [](RawClient& c) {
         c.make_window();
         wl_surface_set_buffer_transform(c.surface(), WL_OUTPUT_TRANSFORM_90);
       }},
      {"wl_surface.set_buffer_scale 2", "wl_surface", WL_SURFACE_ERROR_INVALID_SCALE,
       [](RawClient& c) {
         c.make_window();
         wl_surface_set_buffer_scale(c.surface(), 2);
       }},
      {"xdg_surface.ack_configure of a serial never sent", "xdg_surface", XDG_SURFACE_ERROR_INVALID_SERIAL,
       [](RawClient& c) {
         c.make_window();
         xdg_surface_ack_configure(c.xsurface(), 0x7fffffff);
       }},
      {"buffer before the first configure is acked", "xdg_surface", XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER,
       [](RawClient& c) {
         c.make_window(/*ack=*/false);
         const int fd = pool_fd(64 * 64 * 4);
         wl_shm_pool* pool = wl_shm_create_pool(c.shm(), fd, 64 * 64 * 4);
         ::close(fd);
         wl_buffer* b = wl_shm_pool_create_buffer(pool, 0, 64, 64, 256, WL_SHM_FORMAT_XRGB8888);
         wl_shm_pool_destroy(pool);
         c.own(b);
         wl_surface_attach(c.surface(), b, 0, 0);
         c.commit();
       }},
      {"wl_shm.create_pool of size 0", "wl_shm", WL_SHM_ERROR_INVALID_STRIDE,
       [](RawClient& c) {
         const int fd = pool_fd(4096);
         c.own_pool(wl_shm_create_pool(c.shm(), fd, 0));
         ::close(fd);
       }},
      {"wl_shm_pool.resize smaller", "wl_shm_pool", WL_SHM_ERROR_INVALID_FD,
       [](RawClient& c) {
         const int fd = pool_fd(8192);
         wl_shm_pool* pool = c.own_pool(wl_shm_create_pool(c.shm(), fd, 8192));
         ::close(fd);
         wl_shm_pool_resize(pool, 4096);
       }},
      {"wl_shm_pool.create_buffer past the pool", "wl_shm_pool", WL_SHM_ERROR_INVALID_STRIDE,
       [](RawClient& c) {
         const int fd = pool_fd(4096);
         wl_shm_pool* pool = c.own_pool(wl_shm_create_pool(c.shm(), fd, 4096));
         ::close(fd);
         c.own(wl_shm_pool_create_buffer(pool, 0, 64, 64, 256, WL_SHM_FORMAT_XRGB8888));
       }},
      {"wl_shm_pool.create_buffer in an unknown format", "wl_shm_pool", WL_SHM_ERROR_INVALID_FORMAT,
       [](RawClient& c) {
         const int fd = pool_fd(4096);
         wl_shm_pool* pool = c.own_pool(wl_shm_create_pool(c.shm(), fd, 4096));
         ::close(fd);
         c.own(wl_shm_pool_create_buffer(pool, 0, 8, 8, 32, 0x3231564eu /* NV12 */));
       }},
      {"zcpipe_socket_manager_v1.get_stream with a 1-byte chunk", "zcpipe_socket_manager_v1",
       ZCPIPE_SOCKET_MANAGER_V1_ERROR_BAD_CHUNK_SIZE,
       [](RawClient& c) {
         c.make_window();
         c.get_stream(1, /*wait=*/false);
       }},
  };
  uint32_t posted_by_zcpipe = 0;
  for (const ErrorCase& k : cases) {
    SCOPED_TRACE(k.name);
    RawClient bad(sc().socket_path());
    k.act(bad);
    bad.flush();
    const RawClient::ProtocolError e = bad.wait_error(10s);
    // libwayland posts wl_shm/wl_shm_pool creation errors itself.
    if (std::string(k.iface) != "wl_shm" && std::string(k.iface) != "wl_shm_pool") posted_by_zcpipe++;
    expect_error(e, k.iface, k.code);
    ASSERT_TRUE(sc().comp().process().running()) << "the compositor died on " << k.name;
  }
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_EQ(s["counters"]["protocol_errors"].get<uint32_t>(), posted_by_zcpipe);
}

// A flood of requests that each make the compositor send an event
// (wl_display.sync), from a client that never reads its socket: libwayland
// cannot queue the replies forever and drops the client; nobody else waits.
TEST_F(Protocol, ClientThatNeverReadsIsDroppedNotWaitedFor) {
  start_witness();
  RawClient bad(sc().socket_path());
  int flushed = 0;
  for (int i = 0; i < 200000 && bad.flush() >= 0; ++i) {
    wl_callback* cb = wl_display_sync(bad.display());
    bad.own_callback(cb);
    if (i % 500 == 0) flushed++;
  }
  // The compositor stopped taking our bytes or cut us off; either way it
  // did not block on us: the witness decides.
  expect_witness_presented();
  bad.disconnect();
  expect_compositor_lived();
  EXPECT_GT(flushed, 0);
}

// A flood of commits (no buffer) and of frame callbacks from one client:
// bounded work per request, the witness undisturbed.
TEST_F(Protocol, CommitAndFrameCallbackFlood) {
  start_witness();
  RawClient bad(sc().socket_path());
  bad.make_window();
  constexpr uint32_t kCommits = 3000;
  for (uint32_t i = 0; i < kCommits; ++i) {
    bad.own_callback(wl_surface_frame(bad.surface()));
    bad.request_feedback();
    bad.commit();
    // Read now and then: this case is about the compositor's work per
    // request, not about a full socket (the case above).
    if (i % 100 == 99) {
      ASSERT_TRUE(bad.roundtrip()) << RawClient::describe(bad.error());
    }
  }
  // Commits without content: every feedback is discarded, none presented.
  EXPECT_TRUE(bad.dispatch_until([&] { return bad.discarded() >= kCommits; }, 20s)) << bad.discarded();
  EXPECT_EQ(bad.presented(), 0u);
  bad.disconnect();
  expect_witness_presented();
  expect_compositor_lived();
}

// wp_presentation.feedback naming an object that is not a wl_surface.
// libwayland checks every object argument against the type the protocol
// declares before any handler runs, and posts wl_display.invalid_method
// ("invalid arguments for wp_presentation@N.feedback"); the client library
// reports a wl_display error as EINVAL, not EPROTO. zcpipe's handler never
// sees the request, so its own protocol_errors counter stays at 0.
TEST_F(Protocol, PresentationFeedbackOnAnObjectOfTheWrongType) {
  start_witness();
  RawClient bad(sc().socket_path());
  bad.make_window();
  // Every proxy is a wl_proxy: the client library marshals the id as given
  // and cannot know it names the wrong kind of object.
  bad.request_feedback(reinterpret_cast<wl_surface*>(bad.shm()));
  bad.flush();
  const RawClient::ProtocolError e = bad.wait_error(10s);
  // (libwayland-client keeps no code or interface for wl_display's own
  // errors: errno is the whole answer.)
  EXPECT_EQ(e.error, EINVAL) << RawClient::describe(e);
  bad.disconnect();
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_EQ(s["counters"]["protocol_errors"].get<uint32_t>(), 0u);
}

// wp_presentation: a flood of feedback requests for one commit (nothing
// else in between). Each is a resource the client created; the compositor
// answers every one at that commit (discarded: the commit has no content)
// and keeps nothing once they are answered.
//   2,000 fit in what the kernel and libwayland buffer for the client: all
// are answered. 20,000 answers (~400 KB of events in one go) do not:
// libwayland-server 1.21 cannot queue more than its 4 KiB buffer once the
// socket is full and disconnects the client: the offender pays, nobody
// else (the witness keeps its rate, the compositor posts no error of its
// own and lives).
TEST_F(Protocol, PresentationFeedbackFloodOnOneCommit) {
  start_witness();
  for (const uint32_t n : {2000u, 20000u}) {
    SCOPED_TRACE(n);
    RawClient bad(sc().socket_path());
    bad.make_window();
    for (uint32_t i = 0; i < n; ++i) {
      bad.request_feedback();
      if (i % 1000 == 999) {
        ASSERT_TRUE(bad.roundtrip()) << RawClient::describe(bad.error());
      }
    }
    bad.commit();
    const bool done = bad.dispatch_until(
        [&] { return bad.discarded() >= n || wl_display_get_error(bad.display()) != 0; }, 20s);
    EXPECT_TRUE(done) << bad.discarded();
    EXPECT_EQ(bad.presented(), 0u);
    if (n == 2000) {
      EXPECT_EQ(bad.discarded(), n) << RawClient::describe(bad.error());
    } else if (bad.discarded() < n) {
      // Cut off, not told off: a lost connection, no protocol error.
      EXPECT_NE(bad.error().error, EPROTO) << RawClient::describe(bad.error());
    }
    bad.disconnect();
  }
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_EQ(s["counters"]["protocol_errors"].get<uint32_t>(), 0u);
}

// Clients killed in the middle of a frame: a socket frame half written, a
// shm commit just sent, then SIGKILL (no cleanup at all).
TEST_F(Protocol, ClientsKilledMidFrame) {
  start_witness();
  for (int round = 0; round < 4; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        RawClient c(sc().socket_path());
        c.make_window();
        if (round % 2 == 0) {
          c.get_stream(65536);
          c.write_header(valid_header(kW, kH, 0), 100 * 1024);
          c.attach_frame(0);
          c.commit();
        } else {
          const int32_t size = kW * 4 * kH;
          const int fd = pool_fd(size);
          wl_shm_pool* pool = wl_shm_create_pool(c.shm(), fd, size);
          wl_buffer* b = wl_shm_pool_create_buffer(pool, 0, kW, kH, kW * 4, WL_SHM_FORMAT_XRGB8888);
          for (int i = 0; i < 50; ++i) {
            wl_surface_attach(c.surface(), b, 0, 0);
            c.commit();
          }
        }
        c.flush();
      } catch (...) {
      }
      ::raise(SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_EQ(s["counters"]["clients_disconnected"], s["counters"]["clients_connected"]);
}

// A hundred clients at once, binding everything and holding on.
TEST_F(Protocol, HundredClientsAtOnce) {
  start_witness();
  {
    std::vector<std::unique_ptr<RawClient>> many;
    for (int i = 0; i < 100; ++i) many.push_back(std::make_unique<RawClient>(sc().socket_path()));
    for (auto& c : many) EXPECT_TRUE(c->roundtrip());
  }
  expect_witness_presented();
  const json s = expect_compositor_lived();
  EXPECT_EQ(s["counters"]["clients_connected"].get<int>(), 101);
}

}  // namespace
}  // namespace zch
