// The compositor's own leak check: its stats file reports the descriptors
// open at startup (fds_at_start) and at exit (fds_at_end), and docs/json.md
// calls the pair a leak check. After every client has gone they must be
// equal, whatever transport the clients used, also when a socket client
// vanished in the middle of a frame.
//
// The compositor is started without --ready-fd (harness readiness from
// /proc/net/unix) so that descriptor cannot skew the count, and with
// --exit-after-clients so it stops by itself once every client is gone.
#include <gtest/gtest.h>

#include "scenario.h"

namespace zcb {
namespace {

json run_and_exit(Scenario& sc) {
  const Exit e = sc.comp().process().wait_or_kill(20s);
  EXPECT_TRUE(e.ok()) << "zcpipe-compositor: " << e.describe();
  return sc.comp().stats();
}

// Control: dmabuf clients make the compositor allocate nothing of its own.
TEST(BaselineFdStats, DmabufClientsLeaveFdsAtTheStartCount) {
  Scenario sc(60, /*ready_fd=*/false, {"--exit-after-clients", "2"});
  sc.run_good_client("a", "dmabuf", 20);
  sc.run_good_client("b", "dmabuf", 20);
  const json s = run_and_exit(sc);
  EXPECT_EQ(s["counters"]["clients_disconnected"], 2);
  EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]);
}

TEST(BaselineFdStats, ShmClientsLeaveFdsAtTheStartCount) {
  Scenario sc(60, /*ready_fd=*/false, {"--exit-after-clients", "2"});
  sc.run_good_client("a", "shm", 20);
  sc.run_good_client("b", "shm", 20);
  const json s = run_and_exit(sc);
  EXPECT_EQ(s["counters"]["clients_disconnected"], 2);
  EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]) << "descriptors the compositor opened for wl_shm frames are still open at exit";
}

TEST(BaselineFdStats, SocketClientsAndOneVanishingMidFrameLeaveFdsAtTheStartCount) {
  Scenario sc(60, /*ready_fd=*/false, {"--exit-after-clients", "3"});
  sc.run_good_client("a", "socket", 20);
  {
    RawClient bad(sc.socket_path());
    bad.make_window();
    ASSERT_TRUE(bad.get_stream(65536));
    bad.write_header(valid_header(kW, kH, 0), 100 * 1024);
    bad.disconnect();  // data socket and Wayland connection, mid-frame
  }
  sc.run_good_client("b", "socket", 20);
  const json s = run_and_exit(sc);
  EXPECT_EQ(s["counters"]["clients_disconnected"], 3);
  EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]) << "descriptors the compositor opened for socket frames are still open at exit";
}

}  // namespace
}  // namespace zcb
