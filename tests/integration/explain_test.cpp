// zcpipe-demo --explain / --explain-frame: the traced frame is the one asked
// for, both processes traced it, and the display's timings come out of its
// events (run.explain, run.display_timings in the demo's JSON).
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace zct {
namespace {

json explain_run(const TempDir& dir, const std::vector<std::string>& args) {
  SpawnOptions s;
  s.argv = {demo_path(), "--quiet", "--output", "headless", "--size", "320x240", "--json", dir / "run.json"};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.stdout_path = dir / "demo.out";
  s.env["XDG_RUNTIME_DIR"] = dir.path();
  Process p(s);
  const Exit e = p.wait_or_kill(100s);
  EXPECT_TRUE(e.ok()) << e.describe() << "\n" << read_file(dir / "demo.out");
  return read_json(dir / "run.json");
}

TEST(Explain, TheFrameAskedForIsTracedInBothProcesses) {
  TempDir dir;
  const json doc = explain_run(dir, {"--transport", "dmabuf", "--frames", "6", "--explain-frame", "0"});
  const json& run = doc["runs"][0];
  ASSERT_TRUE(run.contains("explain"));
  EXPECT_EQ(run["explain"]["frame"], 0);
  bool client = false, compositor = false;
  for (const auto& e : run["explain"]["events"]) {
    client = client || e["process"] == "client";
    compositor = compositor || e["process"] == "compositor";
  }
  EXPECT_TRUE(client && compositor);
  // Headless: commit applied -> virtual vblank, then the release of the
  // buffer that vblank replaced (frame 0 replaces nothing: no release).
  ASSERT_TRUE(run["display_timings"]["commit_to_flip_us"].is_number()) << run["display_timings"].dump();
  EXPECT_GT(run["display_timings"]["commit_to_flip_us"].get<double>(), 0.0);
}

TEST(Explain, ALaterDmabufFrameTimesTheReleaseOfTheBufferItReplaced) {
  TempDir dir;
  const json doc = explain_run(dir, {"--transport", "dmabuf", "--frames", "8", "--refresh", "0", "--explain"});
  const json& t = doc["runs"][0]["display_timings"];
  ASSERT_TRUE(t["commit_to_flip_us"].is_number()) << t.dump();
  ASSERT_TRUE(t["flip_to_release_us"].is_number()) << t.dump();
  EXPECT_GE(t["flip_to_release_us"].get<double>(), 0.0);
}

TEST(Explain, AFramePastTheRunIsAUsageError) {
  TempDir dir;
  const Outcome o = run_to_end(dir, {demo_path(), "--frames", "5", "--explain-frame", "5"});
  EXPECT_EQ(o.exit.code, 2);
  EXPECT_EQ(o.err_lines.size(), 1u);
}

}  // namespace
}  // namespace zct
