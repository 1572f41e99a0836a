// Bad linux-dmabuf requests against a running compositor: each one is a
// protocol error for the client that sent it (the right interface and code),
// while a well-behaved client on the same compositor keeps presenting every
// frame. The compositor's counters must agree exactly.
#include <drm_fourcc.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "harness.h"
#include "wayland_conn.h"

namespace zct {
namespace {

constexpr int32_t kW = 64, kH = 64;
constexpr uint32_t kStride = kW * 4;
constexpr size_t kSize = kStride * kH;  // the memfd is exactly one frame
constexpr uint32_t kXrgb = DRM_FORMAT_XRGB8888;

// add() with a fresh memfd of kSize bytes (libwayland sends a duplicate).
void add(zwp_linux_buffer_params_v1* p, uint32_t plane, uint32_t offset = 0, uint32_t stride = kStride,
         uint64_t modifier = DRM_FORMAT_MOD_LINEAR) {
  const int fd = make_memfd(kSize);
  zwp_linux_buffer_params_v1_add(p, fd, plane, offset, stride, static_cast<uint32_t>(modifier >> 32),
                                 static_cast<uint32_t>(modifier & 0xffffffffu));
  ::close(fd);
}

// The wl_buffers the cases create: their proxies are destroyed after each
// case (the client library would otherwise keep them past the connection).
std::vector<wl_buffer*>& made_buffers() {
  static std::vector<wl_buffer*> made;
  return made;
}

wl_buffer* immed(zwp_linux_buffer_params_v1* p, int32_t w = kW, int32_t h = kH, uint32_t format = kXrgb,
                 uint32_t flags = 0) {
  wl_buffer* b = zwp_linux_buffer_params_v1_create_immed(p, w, h, format, flags);
  made_buffers().push_back(b);
  return b;
}

struct BadCase {
  const char* name;
  uint32_t code;  // zwp_linux_buffer_params_v1 error
  int valid_buffers;  // buffers legitimately imported before the mistake
  std::function<void(zwp_linux_buffer_params_v1*)> send;
};

const std::vector<BadCase>& bad_cases() {
  static const std::vector<BadCase> cases = {
      {"add after create_immed", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED, 1,
       [](auto* p) {
         add(p, 0);
         immed(p);
         add(p, 1);
       }},
      {"create_immed twice", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED, 1,
       [](auto* p) {
         add(p, 0);
         immed(p);
         immed(p);
       }},
      {"plane index 4", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX, 0, [](auto* p) { add(p, 4); }},
      {"plane 0 twice", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET, 0,
       [](auto* p) {
         add(p, 0);
         add(p, 0);
       }},
      {"no planes", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE, 0, [](auto* p) { immed(p); }},
      {"plane 1 without plane 0", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE, 0,
       [](auto* p) {
         add(p, 1);
         immed(p);
       }},
      {"unknown fourcc", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT, 0,
       [](auto* p) {
         add(p, 0);
         immed(p, kW, kH, fourcc_code('Z', 'Z', 'Z', 'Z'));
       }},
      {"unsupported modifier", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT, 0,
       [](auto* p) {
         add(p, 0, 0, kStride, I915_FORMAT_MOD_X_TILED);
         immed(p);
       }},
      {"zero width", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS, 0,
       [](auto* p) {
         add(p, 0);
         immed(p, 0, kH);
       }},
      {"plane past the end of the memfd", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS, 0,
       [](auto* p) {
         add(p, 0, /*offset=*/4);
         immed(p);
       }},
      {"create_immed of an interlaced buffer", ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER, 0,
       [](auto* p) {
         add(p, 0);
         immed(p, kW, kH, kXrgb, ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_INTERLACED);
       }},
  };
  return cases;
}

// create (not immed): the outcome arrives as an event.
struct Outcome {
  int created = 0, failed = 0;
  wl_buffer* buffer = nullptr;
};
void on_created(void* data, zwp_linux_buffer_params_v1*, wl_buffer* b) {
  auto* o = static_cast<Outcome*>(data);
  o->created++;
  o->buffer = b;
}
void on_failed(void* data, zwp_linux_buffer_params_v1*) { static_cast<Outcome*>(data)->failed++; }
const zwp_linux_buffer_params_v1_listener kParamsListener = {on_created, on_failed};

TEST(DmabufErrors, EachBadRequestFailsOnlyItsOwnClient) {
  TempDir rt;
  Compositor comp(rt, at_refresh(60));
  const int base = comp.idle_fds();
  // A good client, started first and running throughout (200 frames at 60 Hz),
  // with a ring size the test chooses (not the client's default, which may
  // change): every count below follows from it.
  constexpr int kRing = 4;
  Process good(client_options(comp, {"--frames", "200", "--size", "640x480", "--buffers", std::to_string(kRing)},
                              rt / "good.json"));
  {
    // Let it connect (its socket, then one dma-buf fd per ring buffer, show
    // up in the compositor) before the bad ones.
    const uint64_t deadline = now_ns() + 20'000'000'000ull;
    while (comp.open_fds() < base + 1 + kRing && good.running() && now_ns() < deadline)
      std::this_thread::sleep_for(5ms);
  }

  int valid_buffers = 0;
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    Conn conn(comp.socket_path());
    zwp_linux_buffer_params_v1* p = zwp_linux_dmabuf_v1_create_params(conn.dmabuf());
    c.send(p);
    EXPECT_EQ(conn.roundtrip(), EPROTO);
    const auto e = conn.protocol_error();
    EXPECT_EQ(e.error, EPROTO);
    EXPECT_EQ(e.iface, &zwp_linux_buffer_params_v1_interface)
        << "error on " << (e.iface != nullptr ? e.iface->name : "(none)");
    EXPECT_EQ(e.id, wl_proxy_get_id(reinterpret_cast<wl_proxy*>(p)));
    EXPECT_EQ(e.code, c.code);
    valid_buffers += c.valid_buffers;
    for (wl_buffer* b : made_buffers()) wl_buffer_destroy(b);
    made_buffers().clear();
    zwp_linux_buffer_params_v1_destroy(p);
  }

  // A well-formed buffer the compositor cannot use, asked for with create:
  // a `failed` event, not a protocol error; the connection stays usable.
  {
    SCOPED_TRACE("create of an interlaced buffer");
    Conn conn(comp.socket_path());
    Outcome bad, ok;
    zwp_linux_buffer_params_v1* p = zwp_linux_dmabuf_v1_create_params(conn.dmabuf());
    zwp_linux_buffer_params_v1_add_listener(p, &kParamsListener, &bad);
    add(p, 0);
    zwp_linux_buffer_params_v1_create(p, kW, kH, kXrgb, ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_INTERLACED);
    EXPECT_EQ(conn.roundtrip(), 0);
    EXPECT_EQ(bad.failed, 1);
    EXPECT_EQ(bad.created, 0);
    zwp_linux_buffer_params_v1_destroy(p);

    zwp_linux_buffer_params_v1* q = zwp_linux_dmabuf_v1_create_params(conn.dmabuf());
    zwp_linux_buffer_params_v1_add_listener(q, &kParamsListener, &ok);
    add(q, 0);
    zwp_linux_buffer_params_v1_create(q, kW, kH, kXrgb, 0);
    EXPECT_EQ(conn.roundtrip(), 0);
    EXPECT_EQ(ok.created, 1);
    EXPECT_EQ(ok.failed, 0);
    valid_buffers += 1;
    if (ok.buffer != nullptr) wl_buffer_destroy(ok.buffer);
    zwp_linux_buffer_params_v1_destroy(q);
    EXPECT_EQ(conn.roundtrip(), 0);
  }

  const Exit ge = good.wait_or_kill(90s);
  EXPECT_TRUE(ge.ok()) << "good client: " << ge.describe();
  const json gj = read_json(rt / "good.json");
  EXPECT_EQ(gj["frames_presented"], 200);
  EXPECT_EQ(gj["frames_discarded"], 0);
  EXPECT_EQ(gj["error"], "");
  ASSERT_EQ(gj["buffers"], kRing) << "the client's ring, as its JSON reports it";

  const Exit se = comp.stop();
  EXPECT_TRUE(se.ok()) << se.describe();
  const json stats = comp.stats();
  const json& counters = stats["counters"];
  const int n_bad = static_cast<int>(bad_cases().size());
  EXPECT_EQ(counters["protocol_errors"], n_bad);
  EXPECT_EQ(counters["import_failures"], 1);
  EXPECT_EQ(counters["buffers_imported"], gj["buffers"].get<int>() + valid_buffers)
      << "the good client's ring, plus each valid buffer of the bad cases";
  EXPECT_EQ(counters["clients_connected"], 1 + n_bad + 1);
  EXPECT_EQ(counters["clients_disconnected"], 1 + n_bad + 1);
  EXPECT_EQ(counters["presented"], 200);
}

// The compositor reads client memory (--verify checksums every shown frame).
// A memfd passed as a "dma-buf" can be shrunk by its owner after import;
// reading the vanished pages raises SIGBUS in the reader. One bad client must
// not be able to kill the compositor this way: it may refuse such a buffer
// (e.g. insist on F_SEAL_SHRINK) or survive the read, but it must keep serving.
TEST(DmabufErrors, ClientShrinkingItsMemfdCannotKillTheCompositor) {
  TempDir rt;
  CompositorOptions opts = at_refresh(0);
  opts.verify = true;
  Compositor comp(rt, opts);
  {
    Conn conn(comp.socket_path());
    Window w;
    w.open(conn);
    xdg_surface_ack_configure(w.xsurface, w.serial);
    const int fd = make_memfd(kSize, /*sealed=*/false);  // its owner may truncate it
    wl_buffer* b = conn.make_buffer(kW, kH, fd);
    wl_surface_attach(w.surface, b, 0, 0);
    wl_surface_commit(w.surface);
    conn.roundtrip();
    conn.roundtrip();  // shown (unpaced: on the compositor's next loop iteration), so mapped
    ASSERT_EQ(::ftruncate(fd, 0), 0);
    wl_surface_attach(w.surface, b, 0, 0);
    wl_surface_commit(w.surface);
    conn.roundtrip();
    conn.roundtrip();
    ::close(fd);
  }
  // A new client's roundtrip proves the compositor got past the flip that
  // read the shrunk buffer (it runs before the compositor polls for new clients).
  bool alive = false;
  try {
    Conn probe(comp.socket_path());
    alive = probe.roundtrip() == 0;
  } catch (const std::exception&) {
  }
  if (!alive) {
    const auto e = comp.process().wait(5s);
    FAIL() << "a client shrinking its memfd killed the compositor (" << (e ? e->describe() : "hung") << ")";
  }
  Process good(client_options(comp, {"--frames", "5", "--size", "640x480"}, rt / "good.json"));
  const Exit ge = good.wait_or_kill(60s);
  EXPECT_TRUE(ge.ok()) << ge.describe();
  EXPECT_EQ(read_json(rt / "good.json")["frames_presented"], 5);
  const Exit se = comp.stop();
  EXPECT_TRUE(se.ok()) << se.describe();
}

}  // namespace
}  // namespace zct
