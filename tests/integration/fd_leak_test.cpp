// The compositor must not leak descriptors: every dma-buf fd a client sends
// and every client socket is closed when the client goes. Checked twice: by
// the compositor's own stats (fds_at_start / fds_at_end) and from outside,
// by counting /proc/PID/fd while it runs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace zct {
namespace {

constexpr int kSequential = 20;
constexpr int kConcurrent = 4;
constexpr int kFrames = 5;

// Runs one client to completion and returns its stats.
json run_client(const Compositor& c, const TempDir& rt, const std::string& name) {
  Process p(client_options(c, {"--frames", std::to_string(kFrames), "--size", "640x480"}, rt / (name + ".json")));
  const Exit e = p.wait_or_kill(60s);
  EXPECT_TRUE(e.ok()) << name << ": " << e.describe();
  return read_json(rt / (name + ".json"));
}

// The compositor notices a client's hang-up on its next loop iteration:
// wait (bounded) until its descriptor count settles back to `want`.
int settle_fds(const Compositor& c, int want) {
  int n = c.open_fds();
  const uint64_t deadline = now_ns() + 10'000'000'000ull;
  while (n != want && now_ns() < deadline) {
    std::this_thread::sleep_for(10ms);
    n = c.open_fds();
  }
  return n;
}

void run_many_clients(Compositor& comp, const TempDir& rt, int sequential, int concurrent) {
  const int baseline = comp.idle_fds();
  ASSERT_GT(baseline, 3);

  for (int i = 0; i < sequential; ++i) {
    const json j = run_client(comp, rt, "seq" + std::to_string(i));
    EXPECT_EQ(j["frames_presented"], kFrames) << "client " << i;
    EXPECT_EQ(j["error"], "") << "client " << i;
  }
  EXPECT_EQ(settle_fds(comp, baseline), baseline) << "after " << sequential << " sequential clients";

  // Concurrent clients: all but the top window are occluded, so some frames
  // are discarded rather than presented; every frame has one fate or the other.
  std::vector<std::unique_ptr<Process>> procs;
  for (int i = 0; i < concurrent; ++i)
    procs.push_back(std::make_unique<Process>(client_options(
        comp, {"--frames", std::to_string(kFrames), "--size", "640x480"}, rt / ("par" + std::to_string(i) + ".json"))));
  for (int i = 0; i < concurrent; ++i) {
    const Exit e = procs[i]->wait_or_kill(60s);
    EXPECT_TRUE(e.ok()) << "concurrent client " << i << ": " << e.describe();
    const json j = read_json(rt / ("par" + std::to_string(i) + ".json"));
    EXPECT_EQ(j["frames_presented"].get<int>() + j["frames_discarded"].get<int>(), kFrames) << "client " << i;
  }
  EXPECT_EQ(settle_fds(comp, baseline), baseline) << "after " << concurrent << " concurrent clients";
}

void expect_counters(const json& stats, int clients) {
  const json& c = stats["counters"];
  EXPECT_EQ(c["clients_connected"], clients);
  EXPECT_EQ(c["clients_disconnected"], clients);
  EXPECT_EQ(c["buffers_imported"], clients * 3) << "3 buffers in each client's ring";
  EXPECT_EQ(c["commits"], clients * kFrames);
  EXPECT_EQ(c["presented"].get<int>() + c["discarded"].get<int>(), clients * kFrames);
  EXPECT_EQ(c["protocol_errors"], 0);
  EXPECT_EQ(c["import_failures"], 0);
}

// The compositor as zcpipe-demo starts it: readiness reported on --ready-fd.
TEST(FdLeak, CompositorStartedWithReadyFdReportsBalancedDescriptors) {
  TempDir rt;
  Compositor comp(rt, at_refresh(0));  // --ready-fd is the default
  run_many_clients(comp, rt, kSequential, kConcurrent);
  const Exit e = comp.stop();
  EXPECT_TRUE(e.ok()) << e.describe();
  const json s = comp.stats();
  expect_counters(s, kSequential + kConcurrent);
  // Fails when fds_at_start counts the --ready-fd descriptor, which the
  // compositor closes right after writing "ready".
  EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]);
}

// The same without --ready-fd (readiness from /proc/net/unix): a leak here
// would be a real one, not an accounting artefact.
TEST(FdLeak, CompositorWithoutReadyFdReportsBalancedDescriptors) {
  TempDir rt;
  CompositorOptions o = at_refresh(0);
  o.ready_fd = false;
  Compositor comp(rt, o);
  run_many_clients(comp, rt, 6, 2);
  const Exit e = comp.stop();
  EXPECT_TRUE(e.ok()) << e.describe();
  const json s = comp.stats();
  expect_counters(s, 8);
  EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]);
}

// A client killed in the middle of its run (no orderly disconnect, buffers
// still on screen) must not leave its dma-buf fds in the compositor.
TEST(FdLeak, KilledClientsLeaveNoDescriptors) {
  TempDir rt;
  Compositor comp(rt, at_refresh(60));
  const int baseline = comp.idle_fds();
  for (int i = 0; i < 3; ++i) {
    Process p(client_options(comp, {"--frames", "100000", "--size", "640x480"}));
    // Wait until the client's socket and its 3 buffers are in the compositor.
    const uint64_t deadline = now_ns() + 20'000'000'000ull;
    while (comp.open_fds() < baseline + 4 && now_ns() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_GE(comp.open_fds(), baseline + 4) << "client " << i << " never got going";
    p.kill_and_reap();
    EXPECT_EQ(settle_fds(comp, baseline), baseline) << "after killing client " << i;
  }
  const Exit e = comp.stop();
  EXPECT_TRUE(e.ok()) << e.describe();
  const json s = comp.stats();
  EXPECT_EQ(s["counters"]["clients_connected"], 3);
  EXPECT_EQ(s["counters"]["clients_disconnected"], 3);
}

}  // namespace
}  // namespace zct
