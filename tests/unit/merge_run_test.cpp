// demo::merge_run: turning the client's and the compositor's stats files into
// one run record and its pass/fail checks. Synthetic inputs make every check
// fail on purpose, one at a time.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "demo/pipeline.h"

namespace zc::demo {
namespace {

using nlohmann::json;

constexpr uint64_t kFrames = 10;
constexpr uint32_t kWarmup = 3;
constexpr uint64_t kT0 = 1'000'000'000'000ull;  // presented_ns of the first measured frame
constexpr uint64_t kStep = 10'000'000ull;        // 10 ms between measured frames: 100 fps

std::string sum_of(uint64_t n) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(0xabc000 + n));
  return buf;
}

// A ledger frame record as FrameRecord::to_json writes it. Warm-up frames get
// absurd, easily recognised values: they must never reach a summary.
json ledger_frame(uint64_t n, bool warm) {
  json f;
  f["frame"] = n;
  f["cpu_copies"] = 0;
  f["cpu_copy_bytes"] = 0;
  f["syscalls"] = {{"total", warm ? 7777 : 5 + n}, {"by_call", {{"sendmsg", warm ? 7777 : 5 + n}}}};
  f["mode_switches"] = 2 * (warm ? 7777 : 5 + n);
  f["voluntary_cs"] = warm ? 900 : 1;
  f["involuntary_cs"] = 0;
  f["context_switches"] = warm ? 900 : 1;
  f["minor_faults"] = warm ? 8100 : 0;
  f["cpu_us"] = warm ? 99999 : 100;
  f["rchar"] = 0;
  f["wchar"] = 0;
  f["syscr"] = 0;
  f["syscw"] = 0;
  return f;
}

struct Inputs {
  RunOptions opts;
  json client, compositor;
};

Inputs good_run() {
  Inputs in;
  in.opts.transport = "dmabuf";
  in.opts.frames = kFrames;
  in.opts.warmup = kWarmup;
  in.opts.verify = true;
  in.opts.width = 640;
  in.opts.height = 480;

  json cframes = json::array(), sframes = json::array();
  for (uint64_t n = 0; n < kFrames; ++n) {
    const bool warm = n < kWarmup;
    json c = ledger_frame(n, warm);
    c["presented"] = true;
    c["zero_copy"] = true;
    c["checksum"] = sum_of(n);
    c["latency_us"] = warm ? 1e6 : 200.0 + static_cast<double>(n);
    // Warm-up frames are far apart in time: including them would change fps.
    c["presented_ns"] = warm ? kT0 - (kWarmup - n) * 1'000'000'000ull : kT0 + (n - kWarmup) * kStep;
    c["msc"] = n + 1;
    cframes.push_back(c);

    json s = ledger_frame(n, warm);
    s["checksum"] = sum_of(n);
    s["shown_frame"] = n;
    s["msc"] = n + 1;
    sframes.push_back(s);
  }
  in.client = {{"allocator", "memfd"},
               {"allocator_description", "memfd"},
               {"buffer_kind", "shared memory, not a DMA-BUF"},
               {"width", 640},
               {"height", 480},
               {"format", "XRGB8888"},
               {"frame_bytes", 640 * 480 * 4},
               {"render", "full"},
               {"frames_requested", kFrames},
               {"frames_presented", kFrames},
               {"frames_zero_copy", kFrames},
               {"frames_discarded", 0},
               {"ledger", {{"process", "client"}, {"interposer", true}, {"frames", cframes}}}};
  in.compositor = {{"process", "compositor"},
                   {"output", "headless"},
                   {"counters", {{"protocol_errors", 0}, {"presented", kFrames}}},
                   {"fds_at_start", 12},
                   {"fds_at_end", 12},
                   {"ledger", {{"process", "compositor"}, {"interposer", true}, {"frames", sframes}}}};
  return in;
}

json merge(const Inputs& in) { return merge_run(in.opts, in.client, in.compositor); }

json& client_frame(Inputs& in, size_t n) { return in.client["ledger"]["frames"][n]; }
json& compositor_frame(Inputs& in, size_t n) { return in.compositor["ledger"]["frames"][n]; }

// ---------------------------------------------------------------- control

TEST(MergeRun, GoodRunPassesEveryCheck) {
  const json run = merge(good_run());
  const json& checks = run["checks"];
  EXPECT_TRUE(checks["passed"].get<bool>()) << checks.dump();
  EXPECT_TRUE(checks["all_frames_presented"].get<bool>());
  EXPECT_TRUE(checks["cpu_copies_as_expected"].get<bool>());
  EXPECT_TRUE(checks["zero_copy_every_frame"].get<bool>());
  EXPECT_TRUE(checks["every_checksum_verified"].get<bool>());
  EXPECT_TRUE(checks["no_protocol_errors"].get<bool>());
  EXPECT_EQ(checks["expected_cpu_copies_per_frame"], 0);
  EXPECT_EQ(run["frames_verified"], kFrames);
  EXPECT_EQ(run["frames_mismatched"], 0);
  EXPECT_EQ(run["frames_presented"], kFrames);
  EXPECT_EQ(run["frames_requested"], kFrames);
  EXPECT_EQ(run["interposer"]["client"], true);
  EXPECT_EQ(run["interposer"]["compositor"], true);
  ASSERT_EQ(run["frames"].size(), kFrames);
  for (uint64_t n = 0; n < kFrames; ++n) {
    const json& f = run["frames"][n];
    EXPECT_EQ(f["frame"], n);
    EXPECT_EQ(f["checksum_rendered"], sum_of(n));
    EXPECT_EQ(f["checksum_shown"], sum_of(n));
    EXPECT_EQ(f["shown_frame"], n);
    EXPECT_EQ(f["verified"], true);
    EXPECT_EQ(f["cpu_copies"], 0);
  }
}

// ---------------------------------------------------------------- copies

TEST(MergeRun, CompositorCopyInADmabufRunFailsTheCopyCheck) {
  Inputs in = good_run();
  compositor_frame(in, 5)["cpu_copies"] = 1;
  compositor_frame(in, 5)["cpu_copy_bytes"] = 640 * 480 * 4;
  const json run = merge(in);
  EXPECT_FALSE(run["checks"]["cpu_copies_as_expected"].get<bool>());
  EXPECT_FALSE(run["checks"]["passed"].get<bool>());
  EXPECT_EQ(run["frames"][5]["cpu_copies"], 1);
  EXPECT_EQ(run["frames"][5]["cpu_copy_bytes"], 640 * 480 * 4);
  EXPECT_EQ(run["per_frame"]["cpu_copies"]["max"], 1.0);
  EXPECT_EQ(run["per_frame"]["cpu_copy_bytes"]["max"], 640.0 * 480 * 4);
  EXPECT_EQ(run["per_frame"]["cpu_copies"]["median"], 0.0);
}

TEST(MergeRun, ClientCopyInADmabufRunFailsTheCopyCheck) {
  Inputs in = good_run();
  client_frame(in, kFrames - 1)["cpu_copies"] = 2;
  client_frame(in, kFrames - 1)["cpu_copy_bytes"] = 100;
  const json run = merge(in);
  EXPECT_FALSE(run["checks"]["cpu_copies_as_expected"].get<bool>());
  EXPECT_FALSE(run["checks"]["passed"].get<bool>());
  EXPECT_EQ(run["frames"][kFrames - 1]["cpu_copies"], 2);
}

TEST(MergeRun, ACopyDuringWarmUpStillFailsTheCheckButStaysOutOfTheSummary) {
  Inputs in = good_run();
  compositor_frame(in, 0)["cpu_copies"] = 1;
  compositor_frame(in, 0)["cpu_copy_bytes"] = 4096;
  const json run = merge(in);
  EXPECT_FALSE(run["checks"]["cpu_copies_as_expected"].get<bool>());
  EXPECT_EQ(run["per_frame"]["cpu_copies"]["max"], 0.0);
}

TEST(MergeRun, ShmTransportExpectsOneCopyPerFrame) {
  Inputs in = good_run();
  in.opts.transport = "shm";
  EXPECT_FALSE(merge(in)["checks"]["cpu_copies_as_expected"].get<bool>()) << "zero copies is wrong for shm";
  for (uint64_t n = 0; n < kFrames; ++n) compositor_frame(in, n)["cpu_copies"] = 1;
  const json run = merge(in);
  EXPECT_TRUE(run["checks"]["cpu_copies_as_expected"].get<bool>());
  EXPECT_EQ(run["checks"]["expected_cpu_copies_per_frame"], 1);
  EXPECT_FALSE(run["checks"].contains("zero_copy_every_frame")) << "only a dmabuf run promises zero-copy";
}

// ---------------------------------------------------------------- verification

TEST(MergeRun, ChecksumMismatchIsDetected) {
  Inputs in = good_run();
  compositor_frame(in, 6)["checksum"] = "00000000deadbeef";
  const json run = merge(in);
  EXPECT_EQ(run["frames_mismatched"], 1);
  EXPECT_EQ(run["frames_verified"], kFrames - 1);
  EXPECT_EQ(run["frames"][6]["verified"], false);
  EXPECT_EQ(run["frames"][5]["verified"], true);
  EXPECT_FALSE(run["checks"]["every_checksum_verified"].get<bool>());
  EXPECT_FALSE(run["checks"]["passed"].get<bool>());
}

TEST(MergeRun, WrongFrameShownIsDetected) {
  Inputs in = good_run();
  compositor_frame(in, 4)["shown_frame"] = 3;  // same checksum, but the display decoded frame 3
  const json run = merge(in);
  EXPECT_EQ(run["frames_mismatched"], 1);
  EXPECT_EQ(run["frames"][4]["verified"], false);
  EXPECT_FALSE(run["checks"]["every_checksum_verified"].get<bool>());
}

TEST(MergeRun, FrameTheCompositorNeverSawIsNotVerified) {
  Inputs in = good_run();
  in.compositor["ledger"]["frames"].erase(kFrames - 1);
  const json run = merge(in);
  EXPECT_EQ(run["frames_verified"], kFrames - 1);
  EXPECT_EQ(run["frames"][kFrames - 1]["verified"], false);
  EXPECT_FALSE(run["checks"]["every_checksum_verified"].get<bool>());
}

TEST(MergeRun, MissingRenderedChecksumIsNotVerified) {
  Inputs in = good_run();
  client_frame(in, 2).erase("checksum");
  const json run = merge(in);
  EXPECT_EQ(run["frames"][2]["verified"], false);
  EXPECT_EQ(run["frames_mismatched"], 1);
}

TEST(MergeRun, FewerClientFramesThanRequestedFailVerification) {
  Inputs in = good_run();
  in.client["ledger"]["frames"].erase(kFrames - 1);
  in.client["frames_presented"] = kFrames - 1;
  const json run = merge(in);
  EXPECT_EQ(run["frames_mismatched"], 0);
  EXPECT_EQ(run["frames_verified"], kFrames - 1);
  EXPECT_FALSE(run["checks"]["every_checksum_verified"].get<bool>());
  EXPECT_FALSE(run["checks"]["all_frames_presented"].get<bool>());
}

TEST(MergeRun, WithoutVerifyThereIsNoChecksumCheck) {
  Inputs in = good_run();
  in.opts.verify = false;
  compositor_frame(in, 6)["checksum"] = "00000000deadbeef";
  const json run = merge(in);
  EXPECT_FALSE(run["checks"].contains("every_checksum_verified"));
  EXPECT_FALSE(run["frames"][6].contains("verified"));
  EXPECT_TRUE(run["checks"]["passed"].get<bool>());
}

// ---------------------------------------------------------------- other checks

TEST(MergeRun, MissingPresentationFailsAllFramesPresented) {
  Inputs in = good_run();
  in.client["frames_presented"] = kFrames - 1;
  in.client["frames_zero_copy"] = kFrames - 1;
  const json run = merge(in);
  EXPECT_FALSE(run["checks"]["all_frames_presented"].get<bool>());
  EXPECT_TRUE(run["checks"]["zero_copy_every_frame"].get<bool>());
  EXPECT_FALSE(run["checks"]["passed"].get<bool>());
}

TEST(MergeRun, PresentedWithoutZeroCopyFailsTheZeroCopyCheck) {
  Inputs in = good_run();
  in.client["frames_zero_copy"] = kFrames - 2;
  const json run = merge(in);
  EXPECT_FALSE(run["checks"]["zero_copy_every_frame"].get<bool>());
  EXPECT_FALSE(run["checks"]["passed"].get<bool>());
}

TEST(MergeRun, ProtocolErrorsFailTheRun) {
  Inputs in = good_run();
  in.compositor["counters"]["protocol_errors"] = 1;
  const json run = merge(in);
  EXPECT_FALSE(run["checks"]["no_protocol_errors"].get<bool>());
  EXPECT_FALSE(run["checks"]["passed"].get<bool>());
}

// ---------------------------------------------------------------- summaries

TEST(MergeRun, WarmUpFramesAreExcludedFromEverySummary) {
  const json run = merge(good_run());
  const json& pf = run["per_frame"];
  const size_t measured = kFrames - kWarmup;
  // Steady frames make 5 + n syscalls (n = 3..9), warm-up frames 7777.
  EXPECT_EQ(pf["client_syscalls"]["n"], measured);
  EXPECT_EQ(pf["client_syscalls"]["min"], 5.0 + kWarmup);
  EXPECT_EQ(pf["client_syscalls"]["max"], 5.0 + kFrames - 1);
  EXPECT_EQ(pf["compositor_syscalls"]["max"], 5.0 + kFrames - 1);
  EXPECT_EQ(pf["client_mode_switches"]["max"], 2.0 * (5 + kFrames - 1));
  EXPECT_EQ(pf["client_cpu_us"]["max"], 100.0);
  EXPECT_EQ(pf["compositor_cpu_us"]["max"], 100.0);
  EXPECT_EQ(pf["client_minor_faults"]["max"], 0.0);
  EXPECT_EQ(pf["client_context_switches"]["max"], 1.0);
  EXPECT_EQ(pf["latency_us"]["n"], measured);
  EXPECT_EQ(pf["latency_us"]["min"], 200.0 + kWarmup);
  EXPECT_EQ(pf["latency_us"]["max"], 200.0 + kFrames - 1);
  EXPECT_EQ(pf["cpu_copies"]["n"], measured);
  // ...but every frame, warm-up included, is listed.
  EXPECT_EQ(run["frames"].size(), kFrames);
  EXPECT_EQ(run["frames"][0]["client"]["syscalls"], 7777);
  EXPECT_EQ(run["warmup_frames_excluded"], kWarmup);
}

TEST(MergeRun, FpsIsMeasuredOverTheFramesAfterWarmUp) {
  const json run = merge(good_run());
  // 7 measured frames, 10 ms apart: 6 intervals in 60 ms.
  EXPECT_NEAR(run["fps"].get<double>(), 100.0, 1e-9);
}

TEST(MergeRun, FpsFollowsThePresentationTimes) {
  Inputs in = good_run();
  for (uint64_t n = kWarmup; n < kFrames; ++n)
    client_frame(in, n)["presented_ns"] = kT0 + (n - kWarmup) * 40'000'000ull;  // 25 fps
  EXPECT_NEAR(merge(in)["fps"].get<double>(), 25.0, 1e-9);
}

TEST(MergeRun, FpsIsZeroWithFewerThanTwoMeasuredPresentations) {
  Inputs in = good_run();
  for (uint64_t n = kWarmup + 1; n < kFrames; ++n) client_frame(in, n).erase("presented_ns");
  EXPECT_EQ(merge(in)["fps"].get<double>(), 0.0);
}

TEST(MergeRun, CompositorFactsAreCarriedOver) {
  Inputs in = good_run();
  in.compositor["fds_at_start"] = 12;
  in.compositor["fds_at_end"] = 13;
  in.compositor["counters"]["presented"] = 9;
  const json run = merge(in);
  EXPECT_EQ(run["compositor_fds_at_start"], 12);
  EXPECT_EQ(run["compositor_fds_at_end"], 13);
  EXPECT_EQ(run["compositor_counters"]["presented"], 9);
}

// The renderer's figures (the client's) and the display's fence figures
// (the compositor's) reach each run frame, and the client's into per_frame.
TEST(MergeRun, RendererAndFenceFiguresReachTheRunFrames) {
  Inputs in = good_run();
  for (uint64_t n = 0; n < kFrames; ++n) {
    client_frame(in, n)["cpu_touched_bytes"] = n < kWarmup ? 999 : 0;
    client_frame(in, n)["process_cpu_us"] = n < kWarmup ? 99999.0 : 2000.0 + static_cast<double>(n);
    json& c = compositor_frame(in, n);
    c["fence_attached"] = true;
    c["fence_signal_us"] = 0.0;
    c["fence_wait_us"] = 0.0;
    c["flip_us"] = 7000.0 + static_cast<double>(n);
    c["out_fence"] = true;
  }
  const json run = merge(in);
  for (const json& f : run["frames"]) {
    EXPECT_EQ(f["fence_attached"], true) << f["frame"];
    EXPECT_EQ(f["flip_us"], 7000.0 + f["frame"].get<double>());
    EXPECT_EQ(f["out_fence"], true);
    EXPECT_TRUE(f["client"].contains("cpu_touched_bytes"));
    EXPECT_FALSE(f["compositor"].contains("cpu_touched_bytes"));
  }
  const json& pf = run["per_frame"];
  EXPECT_EQ(pf["client_cpu_touched_bytes"]["max"], 0.0);  // warm-up frames left out
  EXPECT_EQ(pf["client_cpu_touched_bytes"]["n"], kFrames - kWarmup);
  EXPECT_EQ(pf["client_process_cpu_us"]["min"], 2000.0 + kWarmup);
  EXPECT_FALSE(pf.contains("compositor_process_cpu_us"));
}

// A dma-buf the KMS output copied: whether the copy waited for its render
// fence in the loop, and how long, reach the run frame.
TEST(MergeRun, CopyFenceFiguresReachTheRunFrames) {
  Inputs in = good_run();
  for (uint64_t n = 0; n < kFrames; ++n) {
    json& c = compositor_frame(in, n);
    c["copy_fence_waited"] = n % 2 == 1;
    c["copy_fence_wait_us"] = n % 2 == 1 ? 500.0 + static_cast<double>(n) : 0.0;
  }
  const json run = merge(in);
  for (const json& f : run["frames"]) {
    const uint64_t n = f["frame"].get<uint64_t>();
    EXPECT_EQ(f["copy_fence_waited"], n % 2 == 1) << n;
    EXPECT_EQ(f["copy_fence_wait_us"], n % 2 == 1 ? 500.0 + static_cast<double>(n) : 0.0) << n;
  }
}

// Without them (a headless output, an old stats file), no key appears.
TEST(MergeRun, NoFenceOrRendererFiguresNoKeys) {
  const json run = merge(good_run());
  EXPECT_FALSE(run["frames"][0].contains("fence_attached"));
  EXPECT_FALSE(run["frames"][0]["client"].contains("cpu_touched_bytes"));
  EXPECT_FALSE(run["per_frame"].contains("client_cpu_touched_bytes"));
}

}  // namespace
}  // namespace zc::demo
