// --renderer cpu|gl|auto on a host without a DRM device: auto falls back to
// the CPU and the run's JSON says so; gl fails with one line naming why, and
// gl with a copying transport is a usage error (exit 2). The gl renderer
// itself runs in the vm suite, where there is a DRM device.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness.h"

namespace zct {
namespace {

bool host_has_drm_device() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/dri", ec)) {
    (void)e;
    return true;
  }
  return false;
}

Outcome run(const TempDir& dir, std::vector<std::string> argv) {
  return run_to_end(dir, std::move(argv), {{"XDG_RUNTIME_DIR", dir.path()}}, 100s);
}

void expect_one_line_naming(const Outcome& o, const std::vector<std::string>& words) {
  ASSERT_EQ(o.err_lines.size(), 1u) << "expected one error line";
  for (const auto& w : words) EXPECT_NE(o.err_lines[0].find(w), std::string::npos) << o.err_lines[0];
}

TEST(Renderer, AutoFallsBackToCpuWithoutADrmDeviceAndTheJsonSaysSo) {
  if (host_has_drm_device()) GTEST_SKIP() << "this host has a DRM device: auto may pick gl";
  TempDir dir;
  const Outcome o = run(dir, {demo_path(), "--quiet", "--json", dir / "run.json", "--renderer", "auto", "--output",
                              "headless", "--frames", "5", "--size", "320x240"});
  EXPECT_TRUE(o.exit.ok()) << o.exit.describe();
  const json doc = read_json(dir / "run.json");
  ASSERT_EQ(doc["runs"].size(), 1u);
  const json& r = doc["runs"][0];
  EXPECT_EQ(r["renderer"], "cpu");
  EXPECT_TRUE(r["gl_renderer"].is_null()) << r["gl_renderer"];
  EXPECT_EQ(r["frames_verified"], 5);
}

// --renderer cpu,auto: one run per renderer, one after another (the
// --transport all mechanism), each with the client's figures the renderers
// are compared on: the CPU bytes it touched (the cpu renderer writes the
// frame and reads it back for the checksum: twice the visible bytes) and its
// whole process's CPU beside its pacing thread's.
TEST(Renderer, ListRunsEachRendererAndCountsTheBytesTheClientsCpuTouched) {
  if (host_has_drm_device()) GTEST_SKIP() << "this host has a DRM device: auto may pick gl";
  TempDir dir;
  const Outcome o = run(dir, {demo_path(), "--quiet", "--json", dir / "run.json", "--renderer", "cpu,auto", "--output",
                              "headless", "--frames", "5", "--warmup", "1", "--size", "320x240"});
  EXPECT_TRUE(o.exit.ok()) << o.exit.describe();
  const json doc = read_json(dir / "run.json");
  ASSERT_EQ(doc["runs"].size(), 2u);
  const uint64_t visible = 320u * 240u * 4u;
  for (const json& r : doc["runs"]) {
    EXPECT_EQ(r["renderer"], "cpu");  // auto: no DRM device here
    for (const json& f : r["frames"]) {
      EXPECT_EQ(f["client"]["cpu_touched_bytes"], 2 * visible) << f["frame"];
      EXPECT_TRUE(f["client"].contains("process_cpu_us")) << f["frame"];
      EXPECT_FALSE(f["compositor"].contains("cpu_touched_bytes"));
    }
    EXPECT_EQ(r["per_frame"]["client_cpu_touched_bytes"]["median"], static_cast<double>(2 * visible));
    EXPECT_EQ(r["per_frame"]["client_process_cpu_us"]["n"], 4);
  }
  // Tables and the report tell the two runs apart by their labels.
  EXPECT_EQ(doc["runs"][0]["label"], "dmabuf cpu");
  EXPECT_EQ(doc["runs"][1]["label"], "dmabuf cpu 2");
}

TEST(Renderer, ARendererListWithAnUnknownNameIsAUsageError) {
  TempDir dir;
  const Outcome o = run(dir, {demo_path(), "--renderer", "cpu,vulkan", "--frames", "5", "--warmup", "1"});
  EXPECT_TRUE(o.exit.exited) << o.exit.describe();
  EXPECT_EQ(o.exit.code, 2);
  expect_one_line_naming(o, {"--renderer", "'vulkan' is not a renderer"});
}

TEST(Renderer, GlWithoutADrmDeviceFailsWithOneLine) {
  if (host_has_drm_device()) GTEST_SKIP() << "this host has a DRM device";
  TempDir dir;
  // Fails before connecting: no compositor is needed to know.
  const Outcome o = run(dir, {client_path(), "--renderer", "gl", "--socket", "nonexistent", "--frames", "1"});
  EXPECT_TRUE(o.exit.exited) << o.exit.describe();
  EXPECT_EQ(o.exit.code, 1);
  expect_one_line_naming(o, {"--renderer gl", "DRM device"});
}

TEST(Renderer, GlWithACopyingTransportIsAUsageError) {
  for (const std::string t : {"shm", "socket"}) {
    for (const std::string& prog : {client_path(), demo_path()}) {
      TempDir dir;
      const Outcome o = run(dir, {prog, "--renderer", "gl", "--transport", t, "--frames", "5", "--warmup", "1"});
      EXPECT_TRUE(o.exit.exited) << o.exit.describe();
      EXPECT_EQ(o.exit.code, 2) << prog << " " << t;
      expect_one_line_naming(o, {"--renderer", "gl draws into dma-bufs", "not " + t});
    }
  }
}

}  // namespace
}  // namespace zct
