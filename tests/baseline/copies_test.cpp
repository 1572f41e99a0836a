// What each transport costs, counted exactly: zcpipe-demo runs compositor
// and client as real processes, and its run record (docs/json.md) must show
// 0 / 1 / 3 CPU copies of every frame for dmabuf / shm / socket, at least
// ceil(frame_bytes / chunk) write() and read() calls per socket frame, and
// every frame on screen matching the one rendered.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "../integration/harness.h"

namespace zct {
namespace {

constexpr uint64_t k4kBytes = 3840ull * 2160ull * 4ull;    // 33177600
constexpr uint64_t k4k24Bytes = 3840ull * 2160ull * 3ull;  // 24883200, the articles' 23.7 MiB frame

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Runs zcpipe-demo with `args` plus --json and returns the record.
json run_demo(const TempDir& dir, const std::vector<std::string>& args) {
  SpawnOptions s;
  s.argv = {demo_path(), "--quiet", "--json", dir / "run.json"};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.stdout_path = dir / "demo.out";
  s.stderr_path = dir / "demo.err";
  Process p(s);
  const Exit e = p.wait_or_kill(100s);
  EXPECT_TRUE(e.ok()) << "zcpipe-demo: " << e.describe() << "\n"
                      << read_file(dir / "demo.out") << read_file(dir / "demo.err");
  return read_json(dir / "run.json");
}

const json& run_of(const json& doc, const std::string& transport) {
  for (const auto& r : doc["runs"])
    if (r["transport"] == transport) return r;
  throw std::runtime_error("no " + transport + " run in the record");
}

uint64_t calls(const json& proc, const char* name) {
  if (!proc.contains("by_call")) return 0;
  return proc["by_call"].value(name, uint64_t{0});
}

// The checks every transport shares: frames, copies, bytes, checksums.
void check_run(const json& r, const std::string& transport, uint64_t frames, uint64_t frame_bytes,
               uint64_t copies) {
  SCOPED_TRACE("transport " + transport);
  EXPECT_EQ(r["transport"], transport);
  EXPECT_EQ(r["frame_bytes"], frame_bytes);
  EXPECT_EQ(r["frames_requested"], frames);
  EXPECT_EQ(r["frames_presented"], frames);
  EXPECT_EQ(r["frames_discarded"], 0);
  EXPECT_EQ(r["frames_zero_copy"], transport == "dmabuf" ? frames : 0);
  EXPECT_EQ(r["frames_verified"], frames);
  EXPECT_EQ(r["frames_mismatched"], 0);
  EXPECT_EQ(r["checks"]["passed"], true) << r["checks"].dump();
  EXPECT_EQ(r["compositor_counters"]["presented"], frames);
  EXPECT_EQ(r["compositor_counters"]["zero_copy"], transport == "dmabuf" ? frames : 0);
  EXPECT_EQ(r["compositor_counters"]["protocol_errors"], 0);
  EXPECT_EQ(r["client_exit_status"], 0);
  EXPECT_EQ(r["compositor_exit_status"], 0);
  // Without the interposer in both processes the per-call counts below are empty.
  EXPECT_EQ(r["interposer"]["client"], true);
  EXPECT_EQ(r["interposer"]["compositor"], true);

  const json& fr = r["frames"];
  ASSERT_EQ(fr.size(), frames);
  uint64_t total_copies = 0, total_bytes = 0;
  for (uint64_t i = 0; i < frames; ++i) {
    const json& f = fr[i];
    SCOPED_TRACE("frame " + std::to_string(i));
    EXPECT_EQ(f["frame"], i);
    EXPECT_EQ(f["presented"], true);
    EXPECT_EQ(f["zero_copy"], transport == "dmabuf");
    EXPECT_EQ(f["cpu_copies"], copies);
    EXPECT_EQ(f["cpu_copy_bytes"], copies * frame_bytes);
    // Who copies: the socket client once (write()), the compositor the rest.
    const uint64_t client_copies = transport == "socket" ? 1 : 0;
    EXPECT_EQ(f["client"]["cpu_copies"], client_copies);
    EXPECT_EQ(f["client"]["cpu_copy_bytes"], client_copies * frame_bytes);
    EXPECT_EQ(f["compositor"]["cpu_copies"], copies - client_copies);
    EXPECT_EQ(f["compositor"]["cpu_copy_bytes"], (copies - client_copies) * frame_bytes);
    total_copies += f["cpu_copies"].get<uint64_t>();
    total_bytes += f["cpu_copy_bytes"].get<uint64_t>();
    // The frame on screen is the frame rendered.
    ASSERT_TRUE(f.contains("checksum_shown"));
    ASSERT_TRUE(f.contains("checksum_rendered"));
    EXPECT_EQ(f["checksum_shown"], f["checksum_rendered"]);
    EXPECT_EQ(f["shown_frame"], i);
    EXPECT_EQ(f["verified"], true);
  }
  EXPECT_EQ(total_copies, frames * copies);
  EXPECT_EQ(total_bytes, frames * frame_bytes * copies);

  // The summaries over the measured frames say the same.
  const uint64_t measured = frames - r["warmup_frames_excluded"].get<uint64_t>();
  for (const char* k : {"cpu_copies", "cpu_copy_bytes"}) {
    const json& s = r["per_frame"][k];
    const double want = std::string(k) == "cpu_copies" ? static_cast<double>(copies)
                                                         : static_cast<double>(copies * frame_bytes);
    EXPECT_EQ(s["n"], measured) << k;
    EXPECT_EQ(s["min"].get<double>(), want) << k;
    EXPECT_EQ(s["max"].get<double>(), want) << k;
  }
}

// Socket frames: at least ceil(frame_bytes / chunk) write() calls by the
// client and read() calls by the compositor, in every frame's window (the
// warm-up frames too: a frame's body is read inside its own window).
void check_socket_calls(const json& r, uint64_t frame_bytes, uint64_t chunk) {
  const uint64_t min_calls = ceil_div(frame_bytes, chunk);
  EXPECT_EQ(r["chunk"], chunk);
  for (const json& f : r["frames"]) {
    const uint64_t n = f["frame"].get<uint64_t>();
    SCOPED_TRACE("socket frame " + std::to_string(n));
    EXPECT_GE(calls(f["client"], "write"), min_calls);
    EXPECT_GE(calls(f["compositor"], "read"), min_calls);
  }
  const json& pf = r["per_frame"];
  EXPECT_GE(pf["client_write_calls"]["min"].get<double>(), static_cast<double>(min_calls));
  EXPECT_GE(pf["compositor_read_calls"]["min"].get<double>(), static_cast<double>(min_calls));
}

// The model the demo printed against the same run's measurement: its
// transfer count is ceil(frame_bytes / chunk) of the numbers it states, and
// the client's blocking write()s of whole chunks make exactly that many
// pixel writes plus one for the header, in every measured frame.
void check_model(const json& doc, const json& sock, uint64_t want_chunks) {
  const json& m = doc["model_vs_measured"];
  EXPECT_EQ(m["frame_bytes"], sock["frame_bytes"]);
  EXPECT_EQ(m["chunk"], sock["chunk"]);
  EXPECT_EQ(m["chunks_per_frame"], ceil_div(m["frame_bytes"].get<uint64_t>(), m["chunk"].get<uint64_t>()));
  EXPECT_EQ(m["chunks_per_frame"], want_chunks);
  const json& writes = sock["per_frame"]["client_write_calls"];
  EXPECT_EQ(writes["min"].get<double>(), static_cast<double>(want_chunks + 1));
  EXPECT_EQ(writes["max"].get<double>(), static_cast<double>(want_chunks + 1));
  EXPECT_EQ(sock["calls_per_frame"]["client"]["write"].get<double>(), static_cast<double>(want_chunks + 1));
  ASSERT_FALSE(m["rows"].empty());
  EXPECT_EQ(m["rows"][0]["model"].get<double>(), static_cast<double>(want_chunks));
  EXPECT_EQ(m["rows"][0]["measured"].get<double>(), static_cast<double>(want_chunks));
}

TEST(BaselineCopies, AllTransports4K) {
  TempDir dir;
  const json doc = run_demo(dir, {"--transport", "all", "--refresh", "0", "--frames", "20"});
  ASSERT_EQ(doc["runs"].size(), 3u);
  check_run(run_of(doc, "dmabuf"), "dmabuf", 20, k4kBytes, 0);
  check_run(run_of(doc, "shm"), "shm", 20, k4kBytes, 1);
  const json& sock = run_of(doc, "socket");
  check_run(sock, "socket", 20, k4kBytes, 3);
  check_socket_calls(sock, k4kBytes, 65536);
  // The model the record compares against: 507 transfers of 64 KiB.
  check_model(doc, sock, 507);
  // Copying paths make no syscalls per pixel: only the socket writes/reads them.
  for (const char* t : {"dmabuf", "shm"}) {
    for (const json& f : run_of(doc, t)["frames"]) {
      EXPECT_LT(calls(f["client"], "write"), 10u) << t << " frame " << f["frame"];
      EXPECT_LT(calls(f["compositor"], "read"), 10u) << t << " frame " << f["frame"];
    }
  }
}

TEST(BaselineCopies, Socket4KiBChunks) {
  TempDir dir;
  const json doc = run_demo(dir, {"--transport", "socket", "--refresh", "0", "--frames", "10", "--size", "640x480",
                                  "--chunk", "4096"});
  ASSERT_EQ(doc["runs"].size(), 1u);
  const uint64_t bytes = 640ull * 480ull * 4ull;
  const json& r = doc["runs"][0];
  check_run(r, "socket", 10, bytes, 3);
  check_socket_calls(r, bytes, 4096);
  check_model(doc, r, 300);
}

// The articles' example: a 24-bit 4K frame (23.7 MiB) in 64 KiB transfers.
TEST(BaselineCopies, Socket24Bit4K) {
  TempDir dir;
  const json doc =
      run_demo(dir, {"--transport", "socket", "--refresh", "0", "--frames", "10", "--format", "RGB888"});
  ASSERT_EQ(doc["runs"].size(), 1u);
  const json& r = doc["runs"][0];
  EXPECT_EQ(r["format"], "RGB888");
  check_run(r, "socket", 10, k4k24Bytes, 3);  // the program's frame_bytes is 24,883,200
  check_socket_calls(r, k4k24Bytes, 65536);
  check_model(doc, r, 380);
}

}  // namespace
}  // namespace zct
