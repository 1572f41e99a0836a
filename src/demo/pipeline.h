// Running the pipeline as two real processes (compositor + client) on a
// private Wayland socket, and turning their ledgers into one run record.
#pragma once

#include <nlohmann/json.hpp>
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace zc::demo {

struct RunOptions {
  std::string transport = "dmabuf";
  std::string output = "auto";
  std::string device;        // kms: DRM node for the compositor ("" = its own choice)
  uint32_t refresh = 60;
  uint32_t width = 3840, height = 2160;
  std::string format = "XRGB8888";
  uint64_t frames = 300;
  uint32_t warmup = 3;
  bool verify = true;
  std::string allocator = "auto";
  std::string render = "full";
  std::string renderer = "cpu";  // --renderer of the client: cpu | gl | auto
  uint32_t chunk = 64 * 1024;
  bool ledger = true;       // per-frame accounting in both processes
  int64_t trace_frame = -1;  // record one frame's syscalls and steps (--explain)
  // The overwrite experiment: the client writes a marker into each frame's
  // buffer after it was shown, and the compositor's --verify looks for it as
  // the frame leaves the screen (buffer/overwrite_marker.h). Needs verify.
  bool overwrite_proof = false;
  bool follow_feedback = false;  // zcpipe-client --follow-feedback
  std::string bin_dir;      // where zcpipe-compositor and zcpipe-client live
  int timeout_s = 300;      // whole run (0 = no limit)
  // Set (non-zero) by the caller's signal handler: the run stops its
  // children, removes its directory and returns an EINTR error at once.
  const volatile sig_atomic_t* interrupt = nullptr;
  bool progress = false;    // live progress line (client's stderr)
  bool verbose = false;
  std::vector<std::string> client_args;      // extra arguments
  std::vector<std::string> compositor_args;
  uint32_t hops = 1;        // compositors the frame crosses (demo/hops.h); 1 = the client's alone
};

// Directory of the running executable (to find sibling programs).
std::string self_dir();

// A stats or run file, parsed (missing or malformed: an error naming it).
Result<nlohmann::json> load_json(const std::string& path);

// Runs one transport end to end and returns its run record (schema: docs/json.md).
Result<nlohmann::json> run_pipeline(const RunOptions& options);

// Builds the run record from the two processes' stats files (exposed for tests).
nlohmann::json merge_run(const RunOptions& options, const nlohmann::json& client, const nlohmann::json& compositor);

// From the traced frame's events (run["explain"]["events"]): how long the
// display took, commit to flip (kms: the atomic commit ioctl to the flip
// event's read; headless: commit applied to the virtual vblank) and flip to
// the release of the buffer it replaced, in us; null where a mark is missing.
nlohmann::json display_timings(const nlohmann::json& events);

// The narrated trace of the traced frame (--explain), from run["explain"],
// and the overwrite experiment's result when the run made it.
std::string format_explain(const nlohmann::json& run);

// run["overwrite_proof"] from the client's and the compositor's records:
// how many outgoing frames the display looked at, how many carried the
// client's marker, and what zero-copy predicts for this run (exposed for tests).
nlohmann::json overwrite_proof(const std::string& transport, uint64_t frames_scanout_copy, const nlohmann::json& client,
                               const nlohmann::json& compositor);

// run["overwrite_proof"] in a table cell ("12/12 seen") and in one line.
std::string format_overwrite_cell(const nlohmann::json& proof);
std::string format_overwrite_line(const nlohmann::json& proof);

// Human-readable summary of a run record.
std::string format_run(const nlohmann::json& run);

}  // namespace zc::demo

namespace zc::demo {

// The classic zero-copy articles' model of moving one frame through a socket
// in fixed-size transfers, next to what the socket run measured; one
// sentence per row on where and why they differ. `socket_run` is a run
// record of the socket transport.
nlohmann::json model_vs_measured(const nlohmann::json& socket_run);

// Names each run of one demo for tables and the report (its "label"): the
// transport, and the renderer too when runs differ in it or a transport
// repeats (--renderer cpu,gl: "dmabuf cpu", "dmabuf gl").
void label_runs(nlohmann::json& runs);

// Side-by-side table of several runs (ratios against the dmabuf run), and
// the model table when a socket run is present.
std::string format_comparison(const nlohmann::json& runs, const nlohmann::json& model);

}  // namespace zc::demo
