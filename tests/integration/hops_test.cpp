// Several compositors chained by nested outputs (--output wayland, see
// docs/hops.md): the frame crosses every one of them. The tests read each
// compositor's --stats JSON and check, hop by hop, what the design says:
//
//   dmabuf  0 CPU copies at every hop: each nested compositor forwards the
//           client's own buffer (same fds) to its parent.
//   shm     1 copy at every hop: a hop that receives a wl_shm frame copies it
//           into a scanout memfd of its own, which it shares with its parent
//           as wl_shm, so the next hop receives wl_shm again.
//   socket  the client write()s (1 copy), the first hop read()s and copies
//           (2), every further hop receives wl_shm (1 each).
//
// Hop 1 is the compositor the client talks to; the last hop is the root,
// a headless compositor standing in for the display.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace zct {
namespace {

constexpr int kFrames = 24;

// N compositors: chain[0] is the root (headless, --verify), chain[i] runs
// --output wayland --parent chain[i-1]. The client connects to chain.back().
class Chain {
 public:
  Chain(const TempDir& rt, int hops) : rt_(rt) {
    for (int i = 0; i < hops; ++i) {
      CompositorOptions o;
      o.socket = socket_name("hop" + std::to_string(i));
      o.refresh = 0;
      o.verify = i == 0;
      o.stats = false;  // each hop its own file, below
      o.extra = {"--stats", stats_path(i)};
      if (i > 0) o.extra.insert(o.extra.end(), {"--output", "wayland", "--parent", comps_.back()->socket()});
      comps_.push_back(std::make_unique<Compositor>(rt, o));
    }
  }
  Compositor& root() { return *comps_.front(); }
  Compositor& last() { return *comps_.back(); }
  Compositor& at(int i) { return *comps_[static_cast<size_t>(i)]; }
  int size() const { return static_cast<int>(comps_.size()); }
  std::string stats_path(int i) const { return rt_ / ("hop" + std::to_string(i) + ".json"); }

  // Stops every compositor, the client's first (a parent outlives its
  // children, as in a real session), and returns their stats, root first.
  std::vector<json> stop_all() {
    for (int i = size() - 1; i >= 0; --i) {
      const Exit e = at(i).stop();
      EXPECT_TRUE(e.ok()) << "compositor " << i << ": " << e.describe();
    }
    std::vector<json> out;
    for (int i = 0; i < size(); ++i) out.push_back(read_json(stats_path(i)));
    return out;
  }

 private:
  const TempDir& rt_;
  std::vector<std::unique_ptr<Compositor>> comps_;
};

json run_client(Chain& chain, const TempDir& rt, const std::string& transport) {
  Process p(client_options(chain.last(), {"--transport", transport, "--frames", std::to_string(kFrames), "--size", "640x480"},
                           rt / "client.json"));
  const Exit e = p.wait_or_kill(120s);
  EXPECT_TRUE(e.ok()) << e.describe();
  return read_json(rt / "client.json");
}

// CPU copies the ledger charged to each frame window of one process.
std::vector<uint64_t> copies_per_frame(const json& stats) {
  std::vector<uint64_t> v;
  for (const auto& f : stats["ledger"]["frames"]) v.push_back(f.value("cpu_copies", uint64_t{0}));
  return v;
}

// What each hop must copy per frame, hop 1 first (see the top of the file).
uint64_t expected_copies(const std::string& transport, int hop_from_client) {
  if (transport == "dmabuf") return 0;
  if (transport == "socket" && hop_from_client == 1) return 2;
  return 1;
}

void check_chain(const std::string& transport, int hops) {
  SCOPED_TRACE(transport + ", " + std::to_string(hops) + " hops");
  TempDir rt;
  Chain chain(rt, hops);
  const json client = run_client(chain, rt, transport);
  const std::vector<json> st = chain.stop_all();

  EXPECT_EQ(client["frames_presented"], kFrames);
  EXPECT_EQ(client["error"], "");
  // ZERO_COPY reaches the client only if every hop forwarded its buffer and
  // the root showed it as it is.
  EXPECT_EQ(client["frames_zero_copy"], transport == "dmabuf" ? kFrames : 0);
  // The client itself copies only into the socket.
  for (uint64_t c : copies_per_frame(client)) EXPECT_EQ(c, transport == "socket" ? 1u : 0u);

  for (int i = 0; i < hops; ++i) {
    const int hop = hops - i;  // hop 1 is the one the client talks to
    SCOPED_TRACE("hop " + std::to_string(hop) + " (compositor " + std::to_string(i) + ")");
    const json& s = st[static_cast<size_t>(i)];
    EXPECT_EQ(s["counters"]["commits"], kFrames);
    EXPECT_EQ(s["counters"]["presented"], kFrames);
    EXPECT_EQ(s["counters"]["protocol_errors"], 0);
    EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]);
    const auto copies = copies_per_frame(s);
    EXPECT_EQ(copies.size(), static_cast<size_t>(kFrames));
    for (uint64_t c : copies) EXPECT_EQ(c, expected_copies(transport, hop));
    if (i == 0) {
      EXPECT_EQ(s["output"], "headless");
      continue;
    }
    EXPECT_EQ(s["output"], "wayland");
    EXPECT_EQ(s["parent_lost"], false);
    const json& oc = s["output_counters"];
    if (transport == "dmabuf") {
      EXPECT_EQ(oc["forwarded_dmabuf"], kFrames);
      EXPECT_EQ(oc["forwarded_shm"], 0);
      // One parent buffer per client buffer (a ring of a few), not per frame.
      EXPECT_GE(oc["parent_buffers_dmabuf"].get<int>(), 1);
      EXPECT_LE(oc["parent_buffers_dmabuf"].get<int>(), 4);
      EXPECT_EQ(oc["parent_zero_copy"], kFrames);
    } else {
      EXPECT_EQ(oc["forwarded_shm"], kFrames);
      EXPECT_EQ(oc["forwarded_dmabuf"], 0);
      EXPECT_GE(oc["parent_buffers_shm"].get<int>(), 1);
      EXPECT_LE(oc["parent_buffers_shm"].get<int>(), 4);
      EXPECT_EQ(oc["parent_zero_copy"], 0);
    }
    EXPECT_EQ(oc["parent_presented"], kFrames);
    EXPECT_EQ(oc["parent_import_failures"], 0);
    // Release travels down: every frame this hop gave back to its client
    // waited for the parent's wl_buffer.release (one release may cover
    // several attaches of the same buffer, so the counts need not be equal).
    EXPECT_GT(oc["parent_releases"].get<uint64_t>(), 0u);
    EXPECT_LE(oc["released_after_parent"].get<uint64_t>(), oc["forwarded_dmabuf"].get<uint64_t>() + oc["forwarded_shm"].get<uint64_t>());
  }

  // The root showed exactly what the client rendered, frame by frame, and
  // no buffer it was showing was written while on screen: had any hop let
  // the client reuse a buffer before the root let go of it, the client's
  // next frame would have overwritten what the root displays.
  const json& root = st[0];
  EXPECT_EQ(root["output_counters"]["shown_buffer_rewritten"], 0);
  const json& cframes = client["ledger"]["frames"];
  const json& rframes = root["ledger"]["frames"];
  ASSERT_EQ(cframes.size(), rframes.size());
  for (size_t k = 0; k < cframes.size(); ++k) {
    ASSERT_TRUE(cframes[k].contains("checksum")) << "frame " << k;
    EXPECT_EQ(rframes[k].value("checksum", std::string("none")), cframes[k]["checksum"]) << "frame " << k;
  }
}

TEST(Hops, TwoHopsDmabuf) { check_chain("dmabuf", 2); }
TEST(Hops, TwoHopsShm) { check_chain("shm", 2); }
TEST(Hops, TwoHopsSocket) { check_chain("socket", 2); }
TEST(Hops, FourHopsDmabuf) { check_chain("dmabuf", 4); }
TEST(Hops, FourHopsShm) { check_chain("shm", 4); }
TEST(Hops, FourHopsSocket) { check_chain("socket", 4); }

// Clients come and go on a nested compositor: each takes the window on the
// parent again (a new role after the last one unmapped it), and the parent
// buffers of the clients that left are destroyed with their buffers.
TEST(Hops, ClientsInTurn) {
  TempDir rt;
  Chain chain(rt, 2);
  const std::vector<std::string> transports = {"dmabuf", "shm", "socket", "dmabuf"};
  for (const auto& t : transports) {
    SCOPED_TRACE(t);
    const json c = run_client(chain, rt, t);
    EXPECT_EQ(c["frames_presented"], kFrames);
    EXPECT_EQ(c["frames_zero_copy"], t == "dmabuf" ? kFrames : 0);
  }
  const std::vector<json> st = chain.stop_all();
  const json& nested = st[1];
  EXPECT_EQ(nested["counters"]["clients_connected"], transports.size());
  EXPECT_EQ(nested["fds_at_end"], nested["fds_at_start"]);
  const json& oc = nested["output_counters"];
  EXPECT_EQ(oc["forwarded_dmabuf"], 2 * kFrames);
  EXPECT_EQ(oc["forwarded_shm"], 2 * kFrames);
  // The first dmabuf client's parent buffers went with its buffers.
  EXPECT_GE(oc["parent_buffers_destroyed"].get<int>(), oc["parent_buffers_dmabuf"].get<int>() / 2);
  EXPECT_EQ(st[0]["counters"]["presented"], transports.size() * kFrames);
  EXPECT_EQ(st[0]["counters"]["protocol_errors"], 0);
}

// One compositor in the middle of the chain dies: the nested compositor
// above it stops with exit status 1 and says so in its stats, its client is
// disconnected and exits with an error, the root keeps running (it only
// lost a client), and nothing hangs or is left behind.
TEST(Hops, MiddleCompositorKilled) {
  TempDir rt;
  Chain chain(rt, 3);
  Process client(client_options(chain.last(), {"--transport", "dmabuf", "--frames", "1000000", "--size", "640x480"},
                                rt / "client.json"));
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(client.running()) << "the client should still be drawing";
  chain.at(1).process().signal(SIGKILL);
  const Exit top = chain.at(2).process().wait_or_kill(20s);
  EXPECT_TRUE(top.exited);
  EXPECT_EQ(top.code, 1) << top.describe();
  const Exit c = client.wait_or_kill(20s);
  EXPECT_FALSE(c.ok()) << "the client must see its compositor go: " << c.describe();
  const json top_stats = read_json(chain.stats_path(2));
  EXPECT_EQ(top_stats["parent_lost"], true);
  EXPECT_GT(top_stats["counters"]["presented"].get<int>(), 0);
  EXPECT_EQ(top_stats["counters"]["clients_disconnected"], 1);
  // The root serves on, and stops cleanly when asked.
  ASSERT_TRUE(chain.root().process().running());
  const Exit r = chain.root().stop();
  EXPECT_TRUE(r.ok()) << r.describe();
  chain.at(1).process().wait_or_kill(5s);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(count_fds_of(chain.at(i).pid()), -1) << "compositor " << i << " still exists";
  EXPECT_EQ(count_fds_of(client.pid()), -1);
}

// zcpipe-demo --hops: the run record's per-hop figures are the ledgers'
// own, hop by hop, and the model sits beside them.
TEST(Hops, DemoFourHopsAllTransports) {
  TempDir rt;
  const std::string out = rt / "demo.json";
  const Outcome o = run_to_end(rt, {demo_path(), "--hops", "4", "--transport", "all", "--output", "headless", "--refresh", "0",
                                    "--size", "320x240", "--frames", "12", "--warmup", "2", "--quiet", "--json", out},
                               {}, 240s);
  EXPECT_TRUE(o.exit.ok()) << o.exit.describe();
  const json doc = read_json(out);
  ASSERT_EQ(doc["runs"].size(), 3u);
  for (const auto& run : doc["runs"]) {
    const std::string t = run["transport"];
    SCOPED_TRACE(t);
    EXPECT_EQ(run["hops"], 4);
    EXPECT_EQ(run["checks"]["passed"], true);
    EXPECT_EQ(run["checks"]["copies_per_hop_as_designed"], true);
    EXPECT_EQ(run["checks"]["every_checksum_verified"], true);
    EXPECT_EQ(run["output"], "headless");
    ASSERT_EQ(run["per_hop"].size(), 5u);  // the client and 4 compositors
    uint64_t total = 0;
    for (const auto& h : run["per_hop"]) {
      const int hop = h["hop"];
      SCOPED_TRACE("hop " + std::to_string(hop));
      const uint64_t want = t == "dmabuf" ? 0 : hop == 0 ? (t == "socket" ? 1 : 0) : (t == "socket" && hop == 1) ? 2 : 1;
      EXPECT_EQ(h["designed_cpu_copies"], want);
      EXPECT_EQ(h["cpu_copies"].get<double>(), static_cast<double>(want));
      EXPECT_EQ(h["frames_with_other_copies"], 0);
      EXPECT_EQ(h["frames"], 12);
      EXPECT_EQ(h["cpu_copy_bytes"].get<double>(), static_cast<double>(want) * 320 * 240 * 4);
      total += want;
      if (hop >= 2) {
        EXPECT_EQ(h["exit_status"], 0);
      }
    }
    EXPECT_EQ(run["hops_total"]["cpu_copies"].get<double>(), static_cast<double>(total));
    // The report's chart: what the frame has cost after the last hop is the total.
    EXPECT_EQ(run["per_hop"][4]["cumulative_cpu_copy_bytes"], run["hops_total"]["cpu_copy_bytes"]);
    EXPECT_EQ(run["frames_zero_copy"], t == "dmabuf" ? 12 : 0);
  }
  ASSERT_EQ(doc["hops_model_vs_measured"].size(), 3u);
  for (const auto& m : doc["hops_model_vs_measured"]) {
    EXPECT_EQ(m["articles_switches_four_hops"], 4560);
    EXPECT_EQ(m["rows"].size(), 3u);
  }
}

// Weston as the parent, when the machine has it: the nested compositor
// speaks plain Wayland, not zcpipe to zcpipe. Weston's headless backend
// offers no linux-dmabuf here (no DRM device), so a client's dmabuf cannot
// go on as it is: the nested hop copies it into its own wl_shm buffer (one
// copy, reported as a fallback with its reason), and ZERO_COPY is false.
std::string find_weston() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':'))
    if (!d.empty() && ::access((d + "/weston").c_str(), X_OK) == 0) return d + "/weston";
  return "";
}

TEST(Hops, NestedOnWeston) {
  const std::string weston = find_weston();
  if (weston.empty()) GTEST_SKIP() << "weston is not installed (the vm suite runs this on Weston 10)";
  TempDir rt;
  const std::string wsock = socket_name("weston");
  SpawnOptions ws;
  ws.argv = {weston, "--backend=headless-backend.so", "--socket=" + wsock, "--idle-time=0", "--width=640", "--height=480"};
  ws.env["XDG_RUNTIME_DIR"] = rt.path();
  ws.stdout_path = rt / "weston.log";
  ws.stderr_path = rt / "weston.log";
  Process w(ws);
  const uint64_t deadline = now_ns() + 20'000'000'000ull;
  while (!socket_listening(rt / wsock)) {
    ASSERT_TRUE(w.running()) << "weston exited: " << read_file(rt / "weston.log");
    ASSERT_LT(now_ns(), deadline) << "weston did not listen within 20 s";
    std::this_thread::sleep_for(20ms);
  }
  CompositorOptions o;
  o.stats = false;
  o.extra = {"--stats", rt / "nested.json", "--output", "wayland", "--parent", wsock};
  Compositor nested(rt, o);
  for (const std::string t : {"dmabuf", "shm"}) {
    SCOPED_TRACE(t);
    Process p(client_options(nested, {"--transport", t, "--frames", std::to_string(kFrames), "--size", "640x480"}, rt / (t + ".json")));
    const Exit e = p.wait_or_kill(60s);
    EXPECT_TRUE(e.ok()) << e.describe();
    const json c = read_json(rt / (t + ".json"));
    EXPECT_EQ(c["frames_presented"], kFrames);
    EXPECT_EQ(c["frames_zero_copy"], 0);
  }
  EXPECT_TRUE(nested.stop().ok());
  w.signal(SIGTERM);
  w.wait_or_kill(20s);
  const json s = read_json(rt / "nested.json");
  EXPECT_EQ(s["counters"]["presented"], 2 * kFrames);
  EXPECT_EQ(s["counters"]["protocol_errors"], 0);
  EXPECT_EQ(s["parent_lost"], false);
  const json& oc = s["output_counters"];
  EXPECT_EQ(oc["fallback_copies"], kFrames);     // the dmabuf client's frames
  EXPECT_EQ(oc["forwarded_shm"], 2 * kFrames);   // everything reached Weston as wl_shm
  EXPECT_EQ(oc["parent_presented"], 2 * kFrames);
  // One copy per frame at this hop either way: the fallback, or the shm copy.
  for (uint64_t c : copies_per_frame(s)) EXPECT_EQ(c, 1u);
  // The fallback copies' buffers come from the output's scanout planner,
  // which gives idle buffers back when a surface unmaps: nothing stays.
  EXPECT_EQ(s["fds_at_end"], s["fds_at_start"]);
}

// Without --parent, the parent is the WAYLAND_DISPLAY the nested compositor
// was started with (as for any Wayland client), and the command it starts
// gets the nested compositor's own socket, not its parent's.
TEST(Hops, ParentFromWaylandDisplay) {
  TempDir rt;
  Chain chain(rt, 1);
  const std::string sock = socket_name("nested");
  SpawnOptions s;
  s.argv = {compositor_path(), "--socket", sock, "--output", "wayland", "--quiet", "--stats", rt / "nested.json", "--",
            client_path(), "--frames", std::to_string(kFrames), "--size", "320x240", "--quiet", "--stats", rt / "client.json"};
  s.env["XDG_RUNTIME_DIR"] = rt.path();
  s.env["WAYLAND_DISPLAY"] = chain.root().socket();
  Process nested(s);
  const Exit e = nested.wait_or_kill(60s);  // it exits with its command
  EXPECT_TRUE(e.ok()) << e.describe();
  const json c = read_json(rt / "client.json");
  EXPECT_EQ(c["frames_presented"], kFrames);
  EXPECT_EQ(c["frames_zero_copy"], kFrames);
  const json n = read_json(rt / "nested.json");
  EXPECT_EQ(n["parent"], chain.root().socket());
  EXPECT_EQ(n["output_counters"]["forwarded_dmabuf"], kFrames);
  const std::vector<json> st = chain.stop_all();
  EXPECT_EQ(st[0]["counters"]["presented"], kFrames);
}

// Operator mistakes: one line, non-zero exit, no hang.
TEST(Hops, NoParentIsOneLine) {
  TempDir rt;
  const Outcome o = run_to_end(rt, {compositor_path(), "--output", "wayland", "--parent", "no-such-compositor", "--socket", socket_name("np")},
                               {{"XDG_RUNTIME_DIR", rt.path()}}, 20s);
  EXPECT_TRUE(o.exit.exited);
  EXPECT_NE(o.exit.code, 0);
  ASSERT_EQ(o.err_lines.size(), 1u);
  // No --parent and no WAYLAND_DISPLAY: nothing to nest in.
  const Outcome none = run_to_end(rt, {compositor_path(), "--output", "wayland", "--socket", socket_name("np2")},
                                  {{"XDG_RUNTIME_DIR", rt.path()}}, 20s);
  EXPECT_EQ(none.exit.code, 1);
  EXPECT_EQ(none.err_lines.size(), 1u);
}

}  // namespace
}  // namespace zct
