// The overwrite experiment (buffer/overwrite_marker.h): a proof of zero-copy
// that does not trust the ledger's copy counts. The client writes a marker
// naming frame N into frame N's own buffer after N was shown; the headless
// output's --verify looks at frame N once more as it leaves the screen. Only
// a display that reads the client's memory can show the marker:
//   dmabuf  every frame looked at carries its marker
//   shm     none does (the compositor copied the frame at commit)
//   socket  none does (the pixels were copied out through a socket)
// Asserted on the numbers in the demo's run record and the compositor's
// stats, never on its text.
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace zct {
namespace {

json demo_runs(const TempDir& dir, const std::vector<std::string>& args, std::string* out_text) {
  SpawnOptions s;
  s.argv = {demo_path(), "--quiet", "--overwrite-proof", "--transport", "all", "--output", "headless", "--json",
            dir / "run.json"};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.stdout_path = dir / "demo.out";
  s.env["XDG_RUNTIME_DIR"] = dir.path();
  Process p(s);
  const Exit e = p.wait_or_kill(100s);
  *out_text = read_file(dir / "demo.out");
  EXPECT_TRUE(e.ok()) << e.describe() << "\n" << *out_text;
  return read_json(dir / "run.json");
}

// frames: how many the client ran. The display looks at every frame but the
// last as it leaves the screen (the last one is never replaced).
void expect_proof(const json& doc, uint64_t frames, const std::string& out_text) {
  ASSERT_EQ(doc["runs"].size(), 3u) << out_text;
  for (const json& run : doc["runs"]) {
    const std::string t = run["transport"];
    SCOPED_TRACE("transport " + t);
    ASSERT_TRUE(run.contains("overwrite_proof")) << out_text;
    const json& p = run["overwrite_proof"];
    EXPECT_EQ(p["frames_marked"], frames);
    EXPECT_TRUE(p["skipped"].is_null()) << p.dump();
    ASSERT_TRUE(p["witness"].is_string()) << "headless --verify is the witness";
    EXPECT_EQ(p["frames"], frames - 1) << "every frame but the last was looked at as it left the screen";
    if (t == "dmabuf") {
      EXPECT_EQ(p["expected"], "seen");
      EXPECT_EQ(p["marker_seen_frames"], p["frames"]) << "zero-copy: the display reads the client's buffer";
    } else {
      EXPECT_EQ(p["expected"], "not seen");
      EXPECT_EQ(p["marker_seen_frames"], 0) << "a copy cannot carry a marker written after it was taken";
    }
    EXPECT_EQ(p["as_expected"], true);
    EXPECT_EQ(run["checks"]["overwrite_proof_as_expected"], true);
    // Shown before the marker was written: the checksums still match.
    EXPECT_EQ(run["frames_mismatched"], 0);
    EXPECT_EQ(run["checks"]["passed"], true);
  }
}

TEST(OverwriteProof, PacedMarkerSeenOnlyWhenTheDisplayReadsTheClientsBuffer) {
  TempDir dir;
  std::string out;
  const json doc = demo_runs(dir, {"--frames", "20", "--size", "640x360"}, &out);
  expect_proof(doc, 20, out);
}

// Unpaced, and drawing only the header rows: a reused buffer still holds the
// marker of the frame it showed three frames ago. The marker names its frame,
// so such a stale marker (copied along by shm) never counts.
TEST(OverwriteProof, UnpacedHeaderOnlyStaleMarkersDoNotCount) {
  TempDir dir;
  std::string out;
  const json doc = demo_runs(dir, {"--frames", "24", "--size", "320x240", "--refresh", "0", "--render", "header"}, &out);
  expect_proof(doc, 24, out);
}

// The control: without the client's marker, the display finds none, also
// on the zero-copy path (the witness does not see what is not there).
TEST(OverwriteProof, NoMarkerWithoutTheExperiment) {
  TempDir rt;
  CompositorOptions o = at_refresh(0);
  o.verify = true;
  Compositor comp(rt, o);
  Process client(client_options(comp, {"--frames", "12", "--size", "320x240", "--transport", "dmabuf"}));
  const Exit ce = client.wait_or_kill(60s);
  EXPECT_TRUE(ce.ok()) << ce.describe();
  const Exit se = comp.stop();
  EXPECT_TRUE(se.ok()) << se.describe();
  const json oc = comp.stats()["output_counters"];
  EXPECT_EQ(oc["overwrite_proof_frames"], 11);
  EXPECT_EQ(oc["overwrite_proof_marker_seen_frames"], 0);
  EXPECT_EQ(oc["shown_buffer_rewritten"], 0);
}

TEST(OverwriteProof, RefusesWhatCannotWitnessIt) {
  TempDir dir;
  const Outcome no_verify = run_to_end(dir, {demo_path(), "--overwrite-proof", "--no-verify", "--output", "headless"});
  EXPECT_NE(no_verify.exit.code, 0);
  EXPECT_EQ(no_verify.err_lines.size(), 1u);
  const Outcome no_render = run_to_end(dir, {client_path(), "--overwrite-proof", "--render", "none"});
  EXPECT_NE(no_render.exit.code, 0);
  EXPECT_EQ(no_render.err_lines.size(), 1u);
}

}  // namespace
}  // namespace zct
