// The whole pipeline, end to end: zcpipe-demo runs compositor + client as real
// processes; the tests read the run JSON it writes. Paced presentation is
// also checked on a compositor + client started here, from their own ledgers.
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace zct {
namespace {

struct DemoRun {
  Exit exit;
  json doc;
  std::string stdout_text;
};

DemoRun run_demo(const TempDir& dir, const std::vector<std::string>& args) {
  SpawnOptions s;
  s.argv = {demo_path(), "--quiet", "--json", dir / "run.json"};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.stdout_path = dir / "demo.out";
  // The demo makes its own private runtime dir; give it a scratch one anyway.
  s.env["XDG_RUNTIME_DIR"] = dir.path();
  Process p(s);
  DemoRun r;
  r.exit = p.wait_or_kill(100s);
  r.stdout_text = read_file(dir / "demo.out");
  r.doc = read_json(dir / "run.json");
  return r;
}

const json& only_run(const DemoRun& r) {
  if (!r.doc.contains("runs") || r.doc["runs"].size() != 1) throw std::runtime_error("expected exactly one run");
  return r.doc["runs"][0];
}

// ---------------------------------------------------------------- 4K, unpaced

TEST(Demo, FourKFramesCrossByFdWithZeroCopiesAndVerify) {
  TempDir dir;
  const DemoRun r = run_demo(dir, {"--transport", "dmabuf", "--output", "headless", "--refresh", "0", "--frames",
                                   "60", "--size", "3840x2160"});
  EXPECT_TRUE(r.exit.ok()) << r.exit.describe() << "\n" << r.stdout_text;
  const json& run = only_run(r);

  EXPECT_EQ(run["transport"], "dmabuf");
  EXPECT_EQ(run["width"], 3840);
  EXPECT_EQ(run["height"], 2160);
  EXPECT_GE(run["frame_bytes"].get<uint64_t>(), 3840ull * 2160 * 4);
  EXPECT_EQ(run["frames_requested"], 60);
  EXPECT_EQ(run["frames_presented"], 60);
  EXPECT_EQ(run["frames_zero_copy"], 60);
  EXPECT_EQ(run["frames_discarded"], 0);
  EXPECT_EQ(run["frames_verified"], 60);
  EXPECT_EQ(run["frames_mismatched"], 0);
  EXPECT_EQ(run["client_exit_status"], 0);
  EXPECT_EQ(run["compositor_exit_status"], 0);

  const json& pf = run["per_frame"];
  EXPECT_EQ(pf["cpu_copies"]["max"], 0.0);
  EXPECT_EQ(pf["cpu_copy_bytes"]["max"], 0.0);
  EXPECT_GT(pf["cpu_copies"]["n"].get<uint64_t>(), 0u) << "the summary covers some frames";

  // The interposer is linked and sees real calls in both processes.
  EXPECT_EQ(run["interposer"]["client"], true);
  EXPECT_EQ(run["interposer"]["compositor"], true);
  EXPECT_GE(pf["client_syscalls"]["min"].get<double>(), 1.0);
  EXPECT_GE(pf["compositor_syscalls"]["min"].get<double>(), 1.0);

  const json& cc = run["compositor_counters"];
  EXPECT_EQ(cc["presented"], 60);
  EXPECT_EQ(cc["zero_copy"], 60);
  EXPECT_EQ(cc["commits"], 60);
  EXPECT_EQ(cc["protocol_errors"], 0);
  EXPECT_EQ(cc["clients_connected"], 1);

  const json& frames = run["frames"];
  ASSERT_EQ(frames.size(), 60u);
  for (size_t i = 0; i < frames.size(); ++i) {
    const json& f = frames[i];
    SCOPED_TRACE("frame " + std::to_string(i));
    EXPECT_EQ(f["frame"], i);
    EXPECT_EQ(f["presented"], true);
    EXPECT_EQ(f["zero_copy"], true);
    EXPECT_EQ(f["cpu_copies"], 0);
    EXPECT_EQ(f["cpu_copy_bytes"], 0);
    ASSERT_TRUE(f.contains("checksum_rendered") && f.contains("checksum_shown") && f.contains("shown_frame"))
        << f.dump();
    EXPECT_EQ(f["checksum_shown"], f["checksum_rendered"]);
    EXPECT_EQ(f["shown_frame"], i);
    EXPECT_EQ(f["verified"], true);
    EXPECT_GE(f["client"]["syscalls"].get<uint64_t>(), 1u);
  }
  // Consecutive frames really are different pictures.
  for (size_t i = 1; i < frames.size(); ++i)
    EXPECT_NE(frames[i]["checksum_rendered"], frames[i - 1]["checksum_rendered"]) << "frame " << i;

  EXPECT_EQ(run["checks"]["passed"], true) << run["checks"].dump();
}

// ---------------------------------------------------------------- --verify's cost, apart

// --verify checksums every 4K frame twice (as it is shown, and as it leaves
// the screen): far more CPU than the zero-copy pipeline itself. That cost is
// reported apart (compositor_verify_us), and the pipeline's figure
// (compositor_cpu_us) must not carry it. Sums over the measured frames, not
// ratios of medians: a shared 2-core machine makes single frames noisy, but
// it cannot hide a quarter of 4K checksums.
TEST(Demo, VerifyCostIsReportedApartFromThePipelines) {
  const std::vector<std::string> args = {"--transport", "dmabuf", "--output", "headless", "--refresh", "0",
                                         "--frames", "30", "--size", "3840x2160"};
  TempDir with_dir, without_dir;
  std::vector<std::string> with = args, without = args;
  with.emplace_back("--verify");
  without.emplace_back("--no-verify");
  const DemoRun rw = run_demo(with_dir, with);
  const DemoRun ro = run_demo(without_dir, without);
  ASSERT_TRUE(rw.exit.ok()) << rw.exit.describe() << "\n" << rw.stdout_text;
  ASSERT_TRUE(ro.exit.ok()) << ro.exit.describe() << "\n" << ro.stdout_text;
  const json& w = only_run(rw);
  const json& o = only_run(ro);
  ASSERT_EQ(w["frames_verified"], 30);

  auto sum = [](const json& run, const char* key) {
    const json& s = run["per_frame"].at(key);
    return s["mean"].get<double>() * s["n"].get<double>();
  };
  // With --verify: its cost is measured, per frame and over the run.
  ASSERT_TRUE(w["per_frame"].contains("compositor_verify_us")) << w["per_frame"].dump();
  const double verify = sum(w, "compositor_verify_us");
  EXPECT_GT(w["per_frame"]["compositor_verify_us"]["median"].get<double>(), 0.0);
  EXPECT_GT(w["verifying"]["compositor"]["cpu_us_per_frame"].get<double>(), 0.0);
  // Without it: no verify figure at all, and zeros in every frame.
  EXPECT_FALSE(o["per_frame"].contains("compositor_verify_us"));
  EXPECT_EQ(o["verifying"], json::object());
  for (const json& f : o["frames"]) {
    EXPECT_EQ(f["compositor"]["verify_us"], 0.0) << "frame " << f["frame"];
    EXPECT_EQ(f["compositor"]["verify_syscalls"], 0) << "frame " << f["frame"];
  }
  // The pipeline's figure with --verify stays near the one without: at most
  // a quarter of verify's own cost may show in it (cache misses after
  // reading 66 MB per frame, preemption inside the read-back). Charged to the
  // pipeline, verify would put all of it there.
  const double pipe_with = sum(w, "compositor_cpu_us"), pipe_without = sum(o, "compositor_cpu_us");
  EXPECT_LE(pipe_with, pipe_without + 0.25 * verify)
      << "pipeline " << pipe_with << " us with --verify, " << pipe_without << " us without; verify " << verify << " us";
  EXPECT_EQ(w["checks"]["passed"], true) << w["checks"].dump();
  EXPECT_EQ(o["checks"]["passed"], true) << o["checks"].dump();
}

// ---------------------------------------------------------------- 60 Hz

// One paced demo run shared by the tests below (it takes a third of a second
// of refreshes; no need to pay it twice).
const DemoRun& paced_demo() {
  static TempDir dir;
  static const DemoRun r = run_demo(dir, {"--output", "headless", "--frames", "20", "--size", "640x480"});
  return r;
}

TEST(Demo, PacedAt60HzPresentsEveryFrame) {
  const DemoRun& r = paced_demo();
  EXPECT_TRUE(r.exit.ok()) << r.exit.describe() << "\n" << r.stdout_text;
  const json& run = only_run(r);
  EXPECT_EQ(run["refresh_hz"], 60);
  EXPECT_EQ(run["frames_requested"], 20);
  EXPECT_EQ(run["frames_presented"], 20);
  EXPECT_EQ(run["frames_verified"], 20);
  EXPECT_EQ(run["frames_discarded"], 0);
  EXPECT_EQ(run["compositor_counters"]["presented"], 20);
  ASSERT_EQ(run["frames"].size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(run["frames"][i]["presented"], true) << "frame " << i;
    EXPECT_TRUE(run["frames"][i].contains("presented_ns")) << "frame " << i;
  }
  EXPECT_EQ(run["checks"]["passed"], true) << run["checks"].dump();
}

// The run record should say at which refresh (MSC) each frame was shown, so a
// reader can see that no two frames shared a refresh and none was skipped
// over. Both processes record it ("msc" in their ledgers); merge_run drops it.
TEST(Demo, PacedRunRecordsAStrictlyIncreasingMscPerFrame) {
  const json& run = only_run(paced_demo());
  const json& frames = run["frames"];
  ASSERT_EQ(frames.size(), 20u);
  ASSERT_TRUE(frames[0].contains("msc")) << "runs[].frames[] has no \"msc\" field (src/demo/pipeline.cpp merge_run)";
  for (size_t i = 1; i < frames.size(); ++i)
    EXPECT_GT(frames[i]["msc"].get<uint64_t>(), frames[i - 1]["msc"].get<uint64_t>()) << "frame " << i;
}

// The same property from the processes' own ledgers, without the demo.
TEST(Paced, EveryFrameGetsItsOwnRefreshOnTheVblankGrid) {
  TempDir rt;
  Compositor comp(rt, at_refresh(60));
  Process client(client_options(comp, {"--frames", "20", "--size", "640x480"}, rt / "client.json"));
  const Exit ce = client.wait_or_kill(60s);
  EXPECT_TRUE(ce.ok()) << ce.describe();
  const Exit se = comp.stop();
  EXPECT_TRUE(se.ok()) << se.describe();

  const json cj = read_json(rt / "client.json");
  EXPECT_EQ(cj["frames_presented"], 20);
  EXPECT_EQ(cj["frames_discarded"], 0);
  // Nothing per frame is allocated for good: the feedback slots are reused
  // (a ring of 3 buffers keeps at most a few frames in flight).
  EXPECT_LE(cj["feedback_slots"].get<int>(), 5);
  const json& cf = cj["ledger"]["frames"];
  ASSERT_EQ(cf.size(), 20u);

  const json sj = comp.stats();
  EXPECT_EQ(sj["counters"]["presented"], 20);
  std::map<uint64_t, uint64_t> server_msc;  // commit -> msc
  for (const auto& f : sj["ledger"]["frames"])
    if (f.contains("msc")) server_msc[f["frame"].get<uint64_t>()] = f["msc"].get<uint64_t>();
  EXPECT_EQ(server_msc.size(), 20u);

  const uint64_t period = 1'000'000'000ull / 60;
  for (size_t i = 0; i < cf.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const json& f = cf[i];
    ASSERT_EQ(f["frame"], i);
    ASSERT_EQ(f["presented"], true);
    ASSERT_TRUE(f.contains("msc") && f.contains("presented_ns"));
    EXPECT_EQ(f["refresh_ns"], period);
    EXPECT_EQ(server_msc[i], f["msc"].get<uint64_t>()) << "client and compositor agree on the refresh";
    if (i == 0) continue;
    const uint64_t msc = f["msc"].get<uint64_t>(), prev_msc = cf[i - 1]["msc"].get<uint64_t>();
    EXPECT_GT(msc, prev_msc);
    // Presentation times sit on the refresh grid: they differ by whole periods.
    const uint64_t t = f["presented_ns"].get<uint64_t>(), prev_t = cf[i - 1]["presented_ns"].get<uint64_t>();
    EXPECT_EQ(t - prev_t, (msc - prev_msc) * period);
  }
}

}  // namespace
}  // namespace zct
