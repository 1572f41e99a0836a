// xdg-shell's configure/ack handshake, enforced: a client may attach a buffer
// only after acknowledging a configure, and may only acknowledge a serial the
// compositor sent. Each case runs on its own connection.
#include <gtest/gtest.h>

#include <string>

#include "harness.h"
#include "wayland_conn.h"

namespace zct {
namespace {

void expect_xdg_surface_error(Conn& c, xdg_surface* xs, uint32_t code) {
  EXPECT_EQ(c.roundtrip(), EPROTO);
  const auto e = c.protocol_error();
  EXPECT_EQ(e.error, EPROTO);
  EXPECT_EQ(e.iface, &xdg_surface_interface) << "error on " << (e.iface != nullptr ? e.iface->name : "(none)");
  EXPECT_EQ(e.id, wl_proxy_get_id(reinterpret_cast<wl_proxy*>(xs)));
  EXPECT_EQ(e.code, code);
}

class XdgErrors : public ::testing::Test {
 protected:
  TempDir rt_;
  Compositor comp_{rt_, at_refresh(0)};

  // The compositor's count of protocol errors, read from its stats at exit.
  uint64_t stop_and_count_errors() {
    const Exit e = comp_.stop();
    EXPECT_TRUE(e.ok()) << e.describe();
    return comp_.stats()["counters"]["protocol_errors"].get<uint64_t>();
  }
};

// Control: the same steps with a correct ack are accepted and the frame is
// shown, so the error tests below fail for the reason they name.
TEST_F(XdgErrors, AttachAfterAckIsAccepted) {
  {
    Conn c(comp_.socket_path());
    Window w;
    w.open(c);
    xdg_surface_ack_configure(w.xsurface, w.serial);
    wl_surface_attach(w.surface, c.make_buffer(64, 64), 0, 0);
    wl_surface_commit(w.surface);
    EXPECT_EQ(c.roundtrip(), 0);
    EXPECT_EQ(c.roundtrip(), 0);
  }
  EXPECT_EQ(stop_and_count_errors(), 0u);
  EXPECT_EQ(comp_.stats()["counters"]["commits"], 1);
}

TEST_F(XdgErrors, AttachBeforeAckIsUnconfiguredBuffer) {
  {
    Conn c(comp_.socket_path());
    Window w;
    w.open(c);
    wl_surface_attach(w.surface, c.make_buffer(64, 64), 0, 0);
    wl_surface_commit(w.surface);
    expect_xdg_surface_error(c, w.xsurface, XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER);
  }
  EXPECT_EQ(stop_and_count_errors(), 1u);
  EXPECT_EQ(comp_.stats()["counters"]["commits"], 0) << "the buffer never reached the output";
}

TEST_F(XdgErrors, AckOfAWrongSerialIsInvalidSerial) {
  {
    Conn c(comp_.socket_path());
    Window w;
    w.open(c);
    ASSERT_NE(w.serial, 0u);
    xdg_surface_ack_configure(w.xsurface, w.serial + 1000);
    expect_xdg_surface_error(c, w.xsurface, XDG_SURFACE_ERROR_INVALID_SERIAL);
  }
  EXPECT_EQ(stop_and_count_errors(), 1u);
}

TEST_F(XdgErrors, AckBeforeAnyConfigureIsInvalidSerial) {
  {
    Conn c(comp_.socket_path());
    wl_surface* s = c.own(wl_compositor_create_surface(c.compositor()));
    xdg_surface* xs = c.own(xdg_wm_base_get_xdg_surface(c.wm_base(), s));  // no role yet: no configure sent
    xdg_surface_ack_configure(xs, 1);
    expect_xdg_surface_error(c, xs, XDG_SURFACE_ERROR_INVALID_SERIAL);
  }
  EXPECT_EQ(stop_and_count_errors(), 1u);
}

// xdg_surface: "Creating an xdg_surface from a wl_surface which has a buffer
// attached or committed is a client error" (xdg_wm_base.invalid_surface_state).
TEST_F(XdgErrors, RoleForASurfaceWithACommittedBufferIsInvalidSurfaceState) {
  {
    Conn c(comp_.socket_path());
    wl_surface* s = c.own(wl_compositor_create_surface(c.compositor()));
    wl_surface_attach(s, c.make_buffer(64, 64), 0, 0);
    wl_surface_commit(s);
    ASSERT_EQ(c.roundtrip(), 0);
    c.own(xdg_wm_base_get_xdg_surface(c.wm_base(), s));
    EXPECT_EQ(c.roundtrip(), EPROTO);
    const auto e = c.protocol_error();
    EXPECT_EQ(e.iface, &xdg_wm_base_interface) << "error on " << (e.iface != nullptr ? e.iface->name : "(none)");
    EXPECT_EQ(e.code, static_cast<uint32_t>(XDG_WM_BASE_ERROR_INVALID_SURFACE_STATE));
  }
  EXPECT_EQ(stop_and_count_errors(), 1u);
}

// ... but only while it has one: a surface that committed without a buffer,
// or detached the buffer it had (attach NULL + commit), may take the role,
// as in Weston and wlroots. Then the usual handshake shows a frame.
TEST_F(XdgErrors, RoleAfterCommitsWithoutABufferIsAccepted) {
  {
    Conn c(comp_.socket_path());
    wl_surface* s = c.own(wl_compositor_create_surface(c.compositor()));
    wl_surface_commit(s);  // nothing attached
    wl_surface_attach(s, c.make_buffer(64, 64), 0, 0);
    wl_surface_commit(s);
    wl_surface_attach(s, nullptr, 0, 0);
    wl_surface_commit(s);  // detached again
    ASSERT_EQ(c.roundtrip(), 0);
    Window w;
    w.open(c, s);
    xdg_surface_ack_configure(w.xsurface, w.serial);
    wl_surface_attach(s, c.make_buffer(64, 64), 0, 0);
    wl_surface_commit(s);
    EXPECT_EQ(c.roundtrip(), 0);
  }
  EXPECT_EQ(stop_and_count_errors(), 0u);
  EXPECT_EQ(comp_.stats()["counters"]["commits"], 2) << "the role-less commit and the window's";
}

TEST_F(XdgErrors, EachMistakeCostsOnlyItsOwnConnection) {
  // Two bad clients and one good one, interleaved on the same compositor.
  Conn bad1(comp_.socket_path());
  Conn good(comp_.socket_path());
  Conn bad2(comp_.socket_path());
  Window w1, wg, w2;
  w1.open(bad1);
  wg.open(good);
  w2.open(bad2);
  wl_surface_attach(w1.surface, bad1.make_buffer(64, 64), 0, 0);
  wl_surface_commit(w1.surface);
  xdg_surface_ack_configure(w2.xsurface, w2.serial + 1);
  expect_xdg_surface_error(bad1, w1.xsurface, XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER);
  expect_xdg_surface_error(bad2, w2.xsurface, XDG_SURFACE_ERROR_INVALID_SERIAL);
  xdg_surface_ack_configure(wg.xsurface, wg.serial);
  wl_surface_attach(wg.surface, good.make_buffer(64, 64), 0, 0);
  wl_surface_commit(wg.surface);
  EXPECT_EQ(good.roundtrip(), 0);
}

}  // namespace
}  // namespace zct
