#include "demo/pipeline.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include "common/clock.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "stats/format.h"
#include "stats/ioctl_names.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"

namespace zc::demo {
namespace fs = std::filesystem;
using nlohmann::json;

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  return fs::path(std::string(buf, static_cast<size_t>(n))).parent_path().string();
}

Result<json> load_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Error{ENOENT, "missing " + path};
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    return Error{EINVAL, fmt::format("cannot parse {}: {}", path, e.what())};
  }
}

namespace {

// A private XDG_RUNTIME_DIR, removed with everything in it.
struct TempDir {
  std::string path;
  ~TempDir() {
    if (!path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

// The environment of both children: the private runtime dir, and no
// WAYLAND_DISPLAY from the user's session (the client is told --socket).
std::map<std::string, std::optional<std::string>> child_env(const std::string& runtime_dir) {
  return {{"XDG_RUNTIME_DIR", runtime_dir}, {"WAYLAND_DISPLAY", std::nullopt}};
}

json summary(std::vector<double> v) { return stats::to_json(stats::summarize(std::move(v))); }

// The per-process figures that go into the run record for one frame.
json process_figures(const json& rec) {
  json p;
  p["syscalls"] = rec.value("syscalls", json::object()).value("total", 0);
  p["mode_switches"] = rec.value("mode_switches", 0);
  p["voluntary_cs"] = rec.value("voluntary_cs", 0);
  p["involuntary_cs"] = rec.value("involuntary_cs", 0);
  p["context_switches"] = rec.value("context_switches", 0);
  p["minor_faults"] = rec.value("minor_faults", 0);
  p["cpu_us"] = rec.value("cpu_us", 0.0);
  // What the ledger itself cost in this window, kept apart from the pipeline.
  p["measure_syscalls"] = rec.value("measure_syscalls", 0);
  p["measure_us"] = rec.value("measure_us", 0.0);
  // What --verify's read-back cost in this window, kept apart the same way.
  p["verify_syscalls"] = rec.value("verify_syscalls", 0);
  p["verify_us"] = rec.value("verify_us", 0.0);
  p["cpu_copies"] = rec.value("cpu_copies", 0);
  p["cpu_copy_bytes"] = rec.value("cpu_copy_bytes", 0);
  // /proc/self/io only when the ledger read it per frame (ZCPIPE_LEDGER_IO=1).
  for (const char* k : {"rchar", "wchar", "syscr", "syscw"})
    if (rec.contains(k)) p[k] = rec[k];
  // The client's: pixel bytes its CPU wrote or read (0 when a GPU drew), and
  // its whole process's CPU, GL driver threads included (the thread's
  // cpu_us misses them).
  for (const char* k : {"cpu_touched_bytes", "process_cpu_us"})
    if (rec.contains(k)) p[k] = rec[k];
  p["by_call"] = rec.value("syscalls", json::object()).value("by_call", json::object());
  return p;
}

int expected_copies(const std::string& transport) {
  if (transport == "shm") return 1;
  if (transport == "socket") return 3;
  return 0;
}

}  // namespace

json overwrite_proof(const std::string& transport, uint64_t frames_scanout_copy, const json& client, const json& compositor) {
  const json& mine = client.value("overwrite_proof", json::object());
  const json& oc = compositor.value("output_counters", json::object());
  json p;
  p["frames_marked"] = mine.value("frames_marked", 0);
  p["skipped"] = mine.contains("skipped") ? mine["skipped"] : json();
  // Zero-copy predicts the marker on every frame the display showed from
  // the client's buffer: every dmabuf frame the output scanned out directly.
  // A copy (shm, socket, or a KMS fallback copy) cannot carry it.
  const bool predict_seen = transport == "dmabuf" && frames_scanout_copy == 0;
  p["expected"] = predict_seen ? "seen" : "not seen";
  // The witness is the output's --verify last look at each outgoing frame;
  // an output without one (the nested wayland output: its parent shows the frames)
  // reports no counters, and the run says so instead of passing or failing.
  if (!oc.contains("overwrite_proof_frames")) {
    p["witness"] = json();
    p["frames"] = 0;
    p["marker_seen_frames"] = 0;
    p["as_expected"] = json();
    return p;
  }
  p["witness"] = compositor.value("output", "") + " --verify: the last look at each frame before it leaves the screen";
  const uint64_t frames = oc["overwrite_proof_frames"].get<uint64_t>();
  const uint64_t seen = oc.value("overwrite_proof_marker_seen_frames", uint64_t{0});
  p["frames"] = frames;
  p["marker_seen_frames"] = seen;
  p["as_expected"] = frames > 0 && p["frames_marked"].get<uint64_t>() > 0 && (predict_seen ? seen == frames : seen == 0);
  return p;
}

// The display's moments in the traced frame, from the compositor's events:
//   commit   kms: the atomic commit that is not TEST_ONLY (or a legacy page
//            flip) ioctl; headless: the commit applied (apply_commit or
//            present_copy step)
//   flip     kms: the read() of the flip event on the DRM fd; headless: the
//            virtual vblank step
//   release  the wl_buffer.release queued for the buffer that flip replaced
json display_timings(const json& events) {
  // The commit: on kms the ioctl (it follows the apply_commit step, which
  // only hands the buffer to the output); headless has only the step.
  std::optional<uint64_t> applied, kms_commit, flip, release;
  for (const auto& e : events) {
    if (e.value("process", "") != "compositor") continue;
    const std::string kind = e.value("kind", ""), fn = e.value("function", ""), io = e.value("ioctl", "");
    if (!applied && kind == "step" && (fn == "apply_commit" || fn == "present_copy")) applied = e["t_ns"].get<uint64_t>();
    if (!kms_commit && kind == "ioctl" && e.value("failed", 0) == 0 &&
        ((io == "DRM_IOCTL_MODE_ATOMIC" && e.value("text", "").find("TEST_ONLY") == std::string::npos) || io == "DRM_IOCTL_MODE_PAGE_FLIP"))
      kms_commit = e["t_ns"].get<uint64_t>();
  }
  const std::optional<uint64_t> commit = kms_commit ? kms_commit : applied;
  for (const auto& e : events) {
    if (!commit || e.value("process", "") != "compositor") continue;
    const uint64_t t = e["t_ns"].get<uint64_t>();
    const std::string kind = e.value("kind", ""), fn = e.value("function", "");
    if (t < *commit) continue;
    if (!flip) {
      const bool kms_flip = kind == "syscall" && e.value("call", "") == "read" && e.value("fd_name", "").rfind("/dev/dri/", 0) == 0;
      const bool virtual_flip = kind == "step" && fn == "flip" && e.value("text", "").rfind("virtual vblank", 0) == 0;
      if (kms_flip || virtual_flip) flip = t;
    } else if (!release && kind == "step" && fn == "release_buffer") {
      release = t;
    }
  }
  auto us = [](std::optional<uint64_t> a, std::optional<uint64_t> b) {
    return a && b && *b >= *a ? json(static_cast<double>(*b - *a) / 1000.0) : json();
  };
  return {{"commit_to_flip_us", us(commit, flip)}, {"flip_to_release_us", us(flip, release)}};
}

json merge_run(const RunOptions& o, const json& client, const json& compositor) {
  json run;
  run["transport"] = o.transport;
  run["chunk"] = o.chunk;
  run["output"] = compositor.value("output", o.output);
  run["output_description"] = compositor.value("output_description", "");
  // The mode the output really ran (a KMS mode's refresh, not --refresh).
  run["refresh_hz"] = compositor.contains("mode") ? compositor["mode"].value("refresh_hz", 0.0) : static_cast<double>(o.refresh);
  run["allocator"] = client.value("allocator", "");
  run["allocator_description"] = client.value("allocator_description", "");
  run["buffer_kind"] = client.value("buffer_kind", "");
  run["width"] = client.value("width", o.width);
  run["height"] = client.value("height", o.height);
  run["format"] = client.value("format", o.format);
  run["frame_bytes"] = client.value("frame_bytes", 0);
  run["render"] = client.value("render", o.render);
  run["renderer"] = client.value("renderer", o.renderer);
  run["gl_renderer"] = client.contains("gl_renderer") ? client["gl_renderer"] : json();
  run["frames_requested"] = o.frames;
  run["frames_presented"] = client.value("frames_presented", 0);
  run["frames_zero_copy"] = client.value("frames_zero_copy", 0);
  run["frames_discarded"] = client.value("frames_discarded", 0);
  run["warmup_frames_excluded"] = o.warmup;
  run["verify"] = o.verify;
  run["frames_scanout_copy"] = 0;  // always present: 0 when every frame was scanned out directly

  const uint64_t run_ns = client.value("run_ns", uint64_t{0});
  run["wall_fps"] = run_ns > 0 ? static_cast<double>(client.value("frames_presented", uint64_t{0})) * 1e9 / static_cast<double>(run_ns) : 0.0;
  run["ledger"] = client.contains("ledger");
  static const json kNoFrames = json{{"frames", json::array()}, {"interposer", false}};
  const json& cframes = client.contains("ledger") ? client["ledger"]["frames"] : kNoFrames["frames"];
  const json& sframes = compositor.contains("ledger") ? compositor["ledger"]["frames"] : kNoFrames["frames"];
  // The compositor numbers its windows by commit: commit k is client frame k.
  std::vector<const json*> by_commit;
  for (const auto& r : sframes) {
    const size_t k = r.value("frame", size_t{0});
    if (by_commit.size() <= k) by_commit.resize(k + 1, nullptr);
    by_commit[k] = &r;
  }
  json frames = json::array();
  uint64_t verified = 0, mismatched = 0, copies_wrong = 0;
  const int want_copies = expected_copies(o.transport);
  std::map<std::string, std::vector<double>> series;
  uint64_t first_ns = 0, last_ns = 0, measured_presented = 0;
  for (const auto& c : cframes) {
    const uint64_t n = c.value("frame", uint64_t{0});
    const json* s = n < by_commit.size() ? by_commit[n] : nullptr;
    json f;
    f["frame"] = n;
    f["presented"] = c.value("presented", false);
    f["zero_copy"] = c.value("zero_copy", false);
    if (c.contains("latency_us")) f["latency_us"] = c["latency_us"];
    if (c.contains("ready_latency_us")) f["ready_latency_us"] = c["ready_latency_us"];
    if (c.contains("presented_ns")) f["presented_ns"] = c["presented_ns"];
    if (c.contains("msc")) f["msc"] = c["msc"];
    // How the output showed it: "direct", or "copy" with the reason (KMS fallback).
    if (s != nullptr && s->contains("scanout")) f["scanout"] = (*s)["scanout"];
    if (s != nullptr && s->contains("scanout_reason")) f["scanout_reason"] = (*s)["scanout_reason"];
    if (s != nullptr && s->contains("scanout_reasons")) f["scanout_reasons"] = (*s)["scanout_reasons"];
    // KMS: who waited for the GPU's render fence, and how long, for a dma-buf
    // on the plane or one the output copied (docs/fences.md), as the
    // compositor's record has them.
    if (s != nullptr)
      for (const char* k : {"fence_attached", "fence_signal_us", "fence_wait_us", "flip_us", "out_fence",
                            "copy_fence_waited", "copy_fence_wait_us"})
        if (s->contains(k)) f[k] = (*s)[k];
    f["client"] = process_figures(c);
    f["compositor"] = s ? process_figures(*s) : json::object();
    const uint64_t copies = f["client"]["cpu_copies"].get<uint64_t>() +
                            (s ? f["compositor"]["cpu_copies"].get<uint64_t>() : 0);
    const uint64_t copy_bytes = f["client"]["cpu_copy_bytes"].get<uint64_t>() +
                                (s ? f["compositor"]["cpu_copy_bytes"].get<uint64_t>() : 0);
    f["cpu_copies"] = copies;
    f["cpu_copy_bytes"] = copy_bytes;
    // An output that could not scan the buffer out directly copies it once more.
    const uint64_t expected = static_cast<uint64_t>(want_copies) + (f.value("scanout", "direct") == "copy" ? 1u : 0u);
    if (copies != expected) copies_wrong++;
    if (f.value("scanout", "direct") == "copy") run["frames_scanout_copy"] = run["frames_scanout_copy"].get<uint64_t>() + 1;
    if (c.contains("checksum")) f["checksum_rendered"] = c["checksum"];
    if (s != nullptr && s->contains("checksum")) f["checksum_shown"] = (*s)["checksum"];
    if (s != nullptr && s->contains("shown_frame")) f["shown_frame"] = (*s)["shown_frame"];
    // How --verify read the shown buffer: "mmap" or "gbm_map" (through its driver).
    if (s != nullptr && s->contains("verify_read")) f["verify_read"] = (*s)["verify_read"];
    if (o.verify) {
      const bool ok = f.contains("checksum_shown") && f.contains("checksum_rendered") &&
                      f["checksum_shown"] == f["checksum_rendered"] && f.value("shown_frame", UINT64_MAX) == (n & 0xffffffffu);
      f["verified"] = ok;
      ok ? verified++ : mismatched++;
    }
    if (n >= o.warmup) {
      series["cpu_copies"].push_back(static_cast<double>(copies));
      series["cpu_copy_bytes"].push_back(static_cast<double>(copy_bytes));
      for (const char* proc : {"client", "compositor"}) {
        const json& p = f[proc];
        if (p.empty()) continue;
        for (const char* k : {"syscalls", "mode_switches", "context_switches", "voluntary_cs", "involuntary_cs",
                              "minor_faults", "cpu_us", "measure_syscalls", "measure_us", "syscr", "syscw",
                              "cpu_touched_bytes", "process_cpu_us"})
          if (p.contains(k)) series[fmt::format("{}_{}", proc, k)].push_back(p[k].get<double>());
      }
      // --verify's read-back in the compositor, only in runs that verify. (The
      // client's checksum of what it rendered is still in the client's CPU.)
      if (o.verify && !f["compositor"].empty())
        for (const char* k : {"verify_syscalls", "verify_us"})
          series[fmt::format("compositor_{}", k)].push_back(f["compositor"][k].get<double>());
      // Both processes together: what the frame cost the machine.
      if (!f["compositor"].empty()) {
        for (const char* k : {"syscalls", "mode_switches", "context_switches", "minor_faults", "cpu_us", "measure_syscalls", "measure_us"})
          series[fmt::format("total_{}", k)].push_back(f["client"][k].get<double>() + f["compositor"][k].get<double>());
        series["compositor_read_calls"].push_back(f["compositor"]["by_call"].value("read", 0.0));
        series["compositor_epoll_wait_calls"].push_back(f["compositor"]["by_call"].value("epoll_wait", 0.0));
      }
      series["client_write_calls"].push_back(f["client"]["by_call"].value("write", 0.0));
      if (f.contains("latency_us")) series["latency_us"].push_back(f["latency_us"].get<double>());
      if (f.contains("ready_latency_us")) series["ready_latency_us"].push_back(f["ready_latency_us"].get<double>());
      if (f.contains("presented_ns")) {
        const uint64_t t = f["presented_ns"].get<uint64_t>();
        if (measured_presented == 0) first_ns = t;
        last_ns = t;
        measured_presented++;
      }
    }
    frames.push_back(std::move(f));
  }
  json per_frame = json::object();
  for (auto& [k, v] : series) per_frame[k] = summary(v);
  // Median calls per frame by libc entry point, per process (the journey's labels).
  json calls = {{"client", json::object()}, {"compositor", json::object()}};
  for (const char* proc : {"client", "compositor"}) {
    std::map<std::string, std::vector<double>> by_call;
    size_t measured = 0;
    for (const auto& f : frames) {
      if (f["frame"].get<uint64_t>() < o.warmup || !f.contains(proc) || f[proc].empty()) continue;
      ++measured;
      for (const auto& [k, v] : f[proc]["by_call"].items()) by_call[k].push_back(v.get<double>());
    }
    for (auto& [k, v] : by_call) {
      v.resize(measured, 0.0);  // frames without this call count as 0
      calls[proc][k] = stats::summarize(v).median;
    }
  }
  run["calls_per_frame"] = calls;
  run["per_frame"] = per_frame;
  run["fps"] = (measured_presented > 1 && last_ns > first_ns)
                   ? static_cast<double>(measured_presented - 1) * 1e9 / static_cast<double>(last_ns - first_ns)
                   : 0.0;
  run["frames_verified"] = verified;
  run["frames_mismatched"] = mismatched;
  run["compositor_counters"] = compositor.value("counters", json::object());
  // The output's own counters (kms_commits, kms_fbs_created, ...; headless
  // with --verify: the overwrite witness), for the report's display lane.
  run["output_counters"] = compositor.value("output_counters", json::object());
  run["compositor_fds_at_start"] = compositor.value("fds_at_start", -1);
  run["compositor_fds_at_end"] = compositor.value("fds_at_end", -1);
  run["interposer"] = {{"client", client.value("ledger", kNoFrames).value("interposer", false)},
                       {"compositor", compositor.value("ledger", kNoFrames).value("interposer", false)}};
  // The cost of measuring, per process, over every frame (exact totals from
  // each ledger, not only the frames its ring kept), and each ledger's window.
  json measuring = json::object(), window = json::object();
  for (const auto& [proc, doc] : {std::pair<const char*, const json*>{"client", &client}, std::pair<const char*, const json*>{"compositor", &compositor}}) {
    if (!doc->contains("ledger")) continue;
    const json& l = (*doc)["ledger"];
    if (l.contains("totals")) {
      const json& t = l["totals"];
      measuring[proc] = t.value("measuring", json::object());
      measuring[proc]["pipeline_cpu_us_per_frame"] = t.value("cpu_us_per_frame", 0.0);
      measuring[proc]["pipeline_syscalls_per_frame"] = t.value("syscalls_per_frame", 0.0);
      measuring[proc]["frames"] = t.value("frames", 0);
    }
    if (l.contains("clock")) measuring["clock"] = l["clock"];
    if (l.contains("window")) window[proc] = l["window"];
  }
  run["measuring"] = measuring;
  // --verify's read-back in the compositor, over every frame (exact ledger
  // totals): the cost of checking, apart from the pipeline's figures as
  // measuring is. Empty without --verify.
  json verifying = json::object();
  if (o.verify && compositor.contains("ledger") && compositor["ledger"].contains("totals"))
    verifying["compositor"] = compositor["ledger"]["totals"].value("verify", json::object());
  run["verifying"] = verifying;
  run["ledger_window"] = window;
  run["frames"] = std::move(frames);
  if (o.trace_frame >= 0) {
    // Both processes' traces of that frame, merged in time order.
    json events = json::array();
    for (const auto* recs : {&cframes, &sframes}) {
      const char* proc = recs == &cframes ? "client" : "compositor";
      for (const auto& r : *recs)
        if (r.value("frame", int64_t{-1}) == o.trace_frame && r.contains("trace"))
          for (auto e : r["trace"]) {
            e["process"] = proc;
            events.push_back(std::move(e));
          }
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const json& a, const json& b) { return a["t_ns"].get<uint64_t>() < b["t_ns"].get<uint64_t>(); });
    run["display_timings"] = display_timings(events);
    run["explain"] = {{"frame", o.trace_frame}, {"events", std::move(events)}};
  }

  json checks;
  checks["all_frames_presented"] = run["frames_presented"] == run["frames_requested"];
  checks["cpu_copies_as_expected"] = copies_wrong == 0;
  checks["expected_cpu_copies_per_frame"] = want_copies;
  // Every dmabuf frame is ZERO_COPY, unless the output reported a fallback
  // copy for it (with its reason, in frames[i].scanout_reason).
  if (o.transport == "dmabuf")
    checks["zero_copy_every_frame"] = run["frames_zero_copy"].get<uint64_t>() + run.value("frames_scanout_copy", uint64_t{0}) ==
                                      run["frames_presented"].get<uint64_t>();
  if (o.verify) checks["every_checksum_verified"] = mismatched == 0 && verified == o.frames;
  if (o.overwrite_proof) {
    run["overwrite_proof"] = overwrite_proof(o.transport, run["frames_scanout_copy"].get<uint64_t>(), client, compositor);
    if (run["overwrite_proof"]["as_expected"].is_boolean())
      checks["overwrite_proof_as_expected"] = run["overwrite_proof"]["as_expected"];
  }
  checks["no_protocol_errors"] = run["compositor_counters"].value("protocol_errors", 0) == 0;
  bool ok = true;
  for (auto& [k, v] : checks.items())
    if (v.is_boolean() && !v.get<bool>()) ok = false;
  checks["passed"] = ok;
  run["checks"] = checks;
  return run;
}

Result<json> run_pipeline(const RunOptions& o) {
  // Everything this run creates is owned by a local: on every return (done,
  // failed, interrupted by a signal) the children are stopped and reaped
  // (Child's destructor) before the directory is removed (TempDir's,
  // declared first so destroyed last).
  TempDir dir;
  char tmpl[] = "/tmp/zcpipe-run-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Error::from_errno("mkdtemp");
  dir.path = tmpl;  // mode 0700, as XDG_RUNTIME_DIR must be
  const std::string bin = o.bin_dir.empty() ? self_dir() : o.bin_dir;
  const std::string comp_stats = dir.path + "/compositor.json";
  const std::string client_stats = dir.path + "/client.json";
  const std::string socket = "zcpipe-demo";
  auto interrupted = [&] { return o.interrupt != nullptr && *o.interrupt != 0; };
  const Error kInterrupted{EINTR, "interrupted"};

  std::vector<std::string> cargs = {bin + "/zcpipe-compositor", "--socket", socket, "--output", o.output,
                                    "--refresh", std::to_string(o.refresh),
                                    "--size", fmt::format("{}x{}", o.width, o.height),
                                    "--stats", comp_stats, "--ready-fd", "3"};
  if (!o.device.empty()) cargs.insert(cargs.end(), {"--device", o.device});
  if (o.verify) cargs.emplace_back("--verify");
  if (!o.ledger) cargs.emplace_back("--no-ledger");
  if (o.trace_frame >= 0) cargs.insert(cargs.end(), {"--trace-frame", std::to_string(o.trace_frame)});
  if (!o.verbose) cargs.emplace_back("--quiet");
  else cargs.emplace_back("--verbose");
  cargs.insert(cargs.end(), o.compositor_args.begin(), o.compositor_args.end());

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) return Error::from_errno("pipe2");
  UniqueFd ready_r{pipefd[0]}, ready_w{pipefd[1]};
  SpawnOptions cs;
  cs.argv = cargs;
  cs.env = child_env(dir.path);
  cs.fd3 = ready_w.get();  // the compositor writes "ready" on fd 3 once its socket listens
  // If the demo is killed outright (SIGKILL, no chance to clean up), the
  // compositor still stops and removes its socket.
  cs.parent_death_signal = SIGTERM;
  auto comp = Child::spawn(cs);
  if (!comp) return comp.error();
  ready_w.reset();
  // "ready", or end-of-file if the compositor died first. Polled in slices
  // so that a signal to the demo is acted on at once.
  char buf[16] = {};
  ssize_t got = -1;
  for (int waited_ms = 0; waited_ms < 10000 && got < 0; waited_ms += 100) {
    if (interrupted()) return kInterrupted;
    pollfd p{ready_r.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) got = ::read(ready_r.get(), buf, sizeof buf);
  }
  if (got <= 0) {
    const auto st = comp->wait_for(1000, o.interrupt);
    return Error{EIO, fmt::format("zcpipe-compositor did not start ({})", st ? st->describe() : "still running after 10 s")};
  }

  std::vector<std::string> args = {bin + "/zcpipe-client", "--socket", socket,
                                   "--size", fmt::format("{}x{}", o.width, o.height),
                                   "--format", o.format, "--frames", std::to_string(o.frames),
                                   "--warmup", std::to_string(o.warmup), "--allocator", o.allocator,
                                   "--render", o.render, "--renderer", o.renderer, "--stats", client_stats,
                                   "--transport", o.transport, "--chunk", std::to_string(o.chunk)};
  if (!o.verify) args.emplace_back("--no-checksum");
  if (!o.ledger) args.emplace_back("--no-ledger");
  if (o.trace_frame >= 0) args.insert(args.end(), {"--trace-frame", std::to_string(o.trace_frame)});
  if (o.overwrite_proof) args.emplace_back("--overwrite-proof");
  if (o.follow_feedback) args.emplace_back("--follow-feedback");
  if (!o.verbose) args.emplace_back("--quiet");
  if (o.progress) args.emplace_back("--progress");
  if (o.verbose) args.emplace_back("--verbose");
  args.insert(args.end(), o.client_args.begin(), o.client_args.end());
  SpawnOptions ss;
  ss.argv = args;
  ss.env = child_env(dir.path);
  ss.parent_death_signal = SIGTERM;
  auto cl = Child::spawn(ss);
  if (!cl) return cl.error();
  const auto client_exit = cl->wait_for(o.timeout_s > 0 ? o.timeout_s * 1000 : -1, o.interrupt);
  if (!client_exit) {
    // Stop both in order: the client first (its compositor serves it to the
    // end), then the compositor (SIGTERM: it removes its socket and lock).
    cl->terminate(2000);
    comp->terminate(5000);
    if (interrupted()) return kInterrupted;
    return Error{ETIMEDOUT, fmt::format("zcpipe-client did not finish within {} s", o.timeout_s)};
  }
  const ExitStatus comp_exit = comp->terminate(10000);
  if (interrupted()) return kInterrupted;
  const int client_status = client_exit->shell_status();
  const int comp_status = comp_exit.shell_status();

  auto client = load_json(client_stats);
  if (!client) return Error{EIO, fmt::format("zcpipe-client failed ({}): {}", client_exit->describe(), client.error().message())};
  auto compositor = load_json(comp_stats);
  if (!compositor)
    return Error{EIO, fmt::format("zcpipe-compositor failed ({}): {}", comp_exit.describe(), compositor.error().message())};
  // auto ran headless: say why, once, in one line (the compositor ran --quiet).
  static bool said_why = false;  // once per demo, not once per transport
  if (compositor->contains("output_auto_reason") && !std::exchange(said_why, true))
    log::info("output auto: headless, because kms is not possible: {}", (*compositor)["output_auto_reason"].get<std::string>());
  json run = merge_run(o, *client, *compositor);
  run["client_exit_status"] = client_status;
  run["compositor_exit_status"] = comp_status;
  if (client.value().contains("error") && !(*client)["error"].get<std::string>().empty())
    run["client_error"] = (*client)["error"];
  run["checks"]["processes_exited_cleanly"] = client_status == 0 && comp_status == 0;
  if (client_status != 0 || comp_status != 0) run["checks"]["passed"] = false;
  return run;
}

using stats::format_count;

namespace {
std::string num(const json& v) { return format_count(v.get<double>()); }
}  // namespace

std::string wrap(const std::string& text, size_t col, size_t indent);  // below, with format_explain

std::string format_overwrite_cell(const json& p) {
  if (p["witness"].is_null()) return "no witness";
  return fmt::format("{}/{} seen", p["marker_seen_frames"].get<uint64_t>(), p["frames"].get<uint64_t>());
}

std::string format_overwrite_line(const json& p) {
  std::string out = "overwrite proof: ";
  if (!p["skipped"].is_null()) out += fmt::format("(client: {}) ", p["skipped"].get<std::string>());
  if (p["witness"].is_null())
    return out + fmt::format("{} frames marked, but this output has no --verify last look to witness them", p["frames_marked"].get<uint64_t>());
  const uint64_t seen = p["marker_seen_frames"].get<uint64_t>(), frames = p["frames"].get<uint64_t>();
  out += fmt::format("marker seen on screen in {} of {} frames (zero-copy predicts: {})", seen, frames, p["expected"].get<std::string>());
  if (p["as_expected"].is_boolean() && p["as_expected"].get<bool>())
    out += seen > 0 ? ": the display reads the client's own memory" : ": the display shows a copy, taken before the marker";
  else
    out += ": NOT as predicted";
  return out;
}

std::string format_run(const json& run) {
  std::string out;
  const double refresh = run.value("refresh_hz", 0.0);
  out += fmt::format("transport {} · output {} {}x{} {} · {} {} · allocator: {}\n", run["transport"].get<std::string>(),
                     run["output"].get<std::string>(), run["width"].get<uint32_t>(), run["height"].get<uint32_t>(),
                     refresh > 0 ? fmt::format("@{:g} Hz", refresh) : std::string("unpaced"),
                     run["format"].get<std::string>(), fmt::format("render: {} by {}{}", run.value("render", "full"), run.value("renderer", "cpu"),
                                 run["gl_renderer"].is_string() ? " (" + run["gl_renderer"].get<std::string>() + ")" : ""),
                     run["allocator_description"].get<std::string>());
  out += fmt::format("frames: {}/{} presented, {} zero-copy, {} discarded", run["frames_presented"].get<uint64_t>(),
                     run["frames_requested"].get<uint64_t>(), run["frames_zero_copy"].get<uint64_t>(),
                     run["frames_discarded"].get<uint64_t>());
  if (run.value("verify", false))
    out += fmt::format(", {}/{} checksums verified", run["frames_verified"].get<uint64_t>(),
                       run["frames_requested"].get<uint64_t>());
  out += fmt::format(", {:.1f} fps\n", run["fps"].get<double>());
  out += fmt::format("per frame (frames {}..{}; the first {} are warm-up, excluded; the ledger's own cost is shown apart)\n",
                     run["warmup_frames_excluded"].get<uint32_t>(), run["frames_requested"].get<uint64_t>() - 1,
                     run["warmup_frames_excluded"].get<uint32_t>());
  // CPU time per frame is heavy-tailed: the mean (total / frames) sits well
  // above the median, so both are shown, with p99 and max.
  constexpr int kLabel = 46;
  out += fmt::format("  {:<{}} {:>12} {:>12} {:>12} {:>12}\n", "", kLabel, "mean", "median", "p99", "max");
  const json& pf = run["per_frame"];
  auto row = [&](const std::string& label, const std::string& key) {
    if (!pf.contains(key)) return;
    const json& s = pf[key];
    out += fmt::format("  {:<{}} {:>12} {:>12} {:>12} {:>12}\n", label, kLabel, num(s["mean"]), num(s["median"]),
                       num(s["p99"]), num(s["max"]));
  };
  row("CPU copies of pixels", "cpu_copies");
  row("bytes copied by the CPU", "cpu_copy_bytes");
  for (const char* proc : {"client", "compositor"}) {
    const std::string p(proc);
    row(p + " syscalls", p + "_syscalls");
    row(p + " user<->kernel mode switches", p + "_mode_switches");
    row(p + " scheduler context switches", p + "_context_switches");
    row(p + " minor page faults", p + "_minor_faults");
    row(p + " CPU time (us)", p + "_cpu_us");
  }
  // The renderer's difference (docs/fences.md): pixels the client's CPU
  // touched, and the client's CPU in all its threads (a GL driver's too).
  row("client CPU bytes touched (pixels)", "client_cpu_touched_bytes");
  row("client process CPU, all threads (us)", "client_process_cpu_us");
  row("latency commit -> on screen (us)", "latency_us");
  row("latency rendered -> on screen (us)", "ready_latency_us");
  if (pf.contains("client_measure_syscalls") || pf.contains("compositor_measure_syscalls")) {
    out += "  measuring (the ledger's own calls and time, not in the figures above)\n";
    for (const char* proc : {"client", "compositor"}) {
      const std::string p(proc);
      row(p + " ledger syscalls", p + "_measure_syscalls");
      row(p + " ledger CPU time (us)", p + "_measure_us");
    }
    const json& m = run.value("measuring", json::object());
    if (m.contains("clock"))
      out += fmt::format("  (clocksource {}: reading the clock {} a syscall here)\n", m["clock"].value("source", "?"),
                         m["clock"].value("reads_are_syscalls", false) ? "is" : "is not");
  }
  if (pf.contains("compositor_verify_us")) {
    out += "  verifying (--verify reading back what the display shows, not in the figures above)\n";
    row("compositor verify syscalls", "compositor_verify_syscalls");
    row("compositor verify CPU time (us)", "compositor_verify_us");
  }
  if (run.contains("overwrite_proof")) out += wrap(format_overwrite_line(run["overwrite_proof"]), 0, 2);
  const json& checks = run["checks"];
  std::string failed;
  for (auto& [k, v] : checks.items())
    if (v.is_boolean() && !v.get<bool>() && k != "passed") failed += (failed.empty() ? "" : ", ") + k;
  out += checks.value("passed", false) ? std::string("checks: all passed\n") : "checks FAILED: " + failed + "\n";
  return out;
}

}  // namespace zc::demo

namespace zc::demo {

std::string explain_overwrite(const json& run);

// Explain lines stay within kExplainWidth columns. wrap() continues a line
// that already holds `col` columns with `text`, broken at spaces; continuation
// lines start with `indent` spaces (a word longer than a line stays whole).
// A line holding more than its indent gets a space before the first word.
constexpr size_t kExplainWidth = 100;
constexpr size_t kStepIndent = 29;  // under the step's source file

size_t columns(const std::string& s) {
  size_t w = 0;
  for (unsigned char ch : s) w += (ch & 0xc0) != 0x80;  // UTF-8: count characters, not bytes
  return w;
}

std::string wrap(const std::string& text, size_t col, size_t indent) {
  std::string out;
  bool words_on_line = col > indent;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    const size_t w = columns(word);
    if (words_on_line && col + 1 + w > kExplainWidth) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
      words_on_line = false;
    }
    if (words_on_line) {
      out += ' ';
      ++col;
    }
    out += word;
    col += w;
    words_on_line = true;
  }
  return out + "\n";
}

// What a libc call does, in one line, for the narration.
static std::string call_meaning(const std::string& call, const std::string& fd_name, uint64_t bytes) {
  // On a DRM device, read() returns the kernel's events: the page flip is done.
  if (call == "read" && fd_name.rfind("/dev/dri/", 0) == 0) return stats::drm_event_read_meaning(static_cast<long>(bytes));
  if (call == "sendmsg") return "Wayland messages (and any fds, as SCM_RIGHTS) out through the Wayland socket";
  if (call == "recvmsg") return "Wayland messages in from the Wayland socket";
  if (call == "poll") return "sleep until the Wayland socket is readable";
  if (call == "epoll_wait") return "the event loop sleeps until a descriptor is ready";
  if (call == "write") return "bytes copied from user memory into the kernel";
  if (call == "read") return "bytes copied from the kernel into user memory";
  return "";
}

std::string format_explain(const nlohmann::json& run) {
  if (!run.contains("explain")) return "";
  const json& ex = run["explain"];
  std::string out = fmt::format("\nthe journey of frame {} ({} transport), step by step, in time order (times from the first step)\n",
                                ex["frame"].get<int64_t>(), run["transport"].get<std::string>());
  if (ex["frame"].get<int64_t>() < run.value("warmup_frames_excluded", int64_t{0}))
    out += wrap("(a warm-up frame: what happens once per buffer happens in these frames, e.g. on kms the buffer's import "
                "and its framebuffer; later frames reuse them)",
                0, 1);
  const json& ev = ex["events"];
  if (ev.empty()) return out + "  (no trace recorded)\n";
  const uint64_t t0 = ev[0]["t_ns"].get<uint64_t>();
  int step = 0;
  // Consecutive syscalls of one process (until it or the other process marks
  // a step) are shown as one line per (call, fd), in first-seen order.
  struct Agg {
    std::string call, fd_name;
    int fd;
    uint64_t count = 0, bytes = 0, failed = 0, t = 0;
  };
  std::vector<Agg> pending;
  std::string pending_proc;
  auto flush = [&] {
    for (const Agg& g : pending) {
      const std::string head = fmt::format("      +{:>9.1f} us  {:<10}  {}(fd {} = {}){}{}", static_cast<double>(g.t - t0) / 1000.0,
                                           pending_proc, g.call, g.fd, g.fd_name, g.count > 1 ? fmt::format(" x{}", g.count) : std::string(),
                                           g.bytes > 0 ? fmt::format(", {} bytes", g.bytes) : std::string());
      std::string rest;
      if (g.failed > 0) rest += fmt::format("({} found nothing to read: EAGAIN)", g.failed);
      const std::string m = call_meaning(g.call, g.fd_name, g.bytes);
      if (!m.empty()) rest += (rest.empty() ? "— " : " — ") + m;
      out += head + (rest.empty() ? "\n" : wrap(rest, columns(head), kStepIndent));
    }
    pending.clear();
  };
  for (const auto& e : ev) {
    const std::string proc = e["process"].get<std::string>();
    if (e["kind"] == "step") {
      flush();
      const double dt = static_cast<double>(e["t_ns"].get<uint64_t>() - t0) / 1000.0;
      out += fmt::format("{:4}. +{:>9.1f} us  {:<10}  {} {}()\n", ++step, dt, proc, e["file"].get<std::string>(),
                         e["function"].get<std::string>());
      std::string text = e["text"].get<std::string>();
      if (e["bytes"].get<uint64_t>() > 0) text += fmt::format(" [{} bytes]", e["bytes"].get<uint64_t>());
      out += std::string(kStepIndent, ' ') + wrap(text, kStepIndent, kStepIndent);
      continue;
    }
    if (e["kind"] == "ioctl") {
      // One line per ioctl, never merged: each names its own objects (the
      // framebuffer, the plane's properties), and the function that asked.
      flush();
      const std::string head = fmt::format("      +{:>9.1f} us  {:<10}  ioctl(fd {} = {}) {}", static_cast<double>(e["t_ns"].get<uint64_t>() - t0) / 1000.0,
                                           proc, e["fd"].get<int>(), e["fd_name"].get<std::string>(), e["ioctl"].get<std::string>());
      std::string rest;
      const std::string fn = e.value("function", "");
      if (!fn.empty()) rest += "from " + fn + " ";
      rest += "— " + e["text"].get<std::string>();
      out += head + wrap(rest, columns(head), kStepIndent);
      continue;
    }
    if (!pending.empty() && proc != pending_proc) flush();
    pending_proc = proc;
    const std::string call = e["call"].get<std::string>();
    const int fd = e["fd"].get<int>();
    auto it = std::find_if(pending.begin(), pending.end(), [&](const Agg& g) { return g.call == call && g.fd == fd; });
    if (it == pending.end()) {
      pending.push_back(Agg{call, e["fd_name"].get<std::string>(), fd, 0, 0, 0, e["t_ns"].get<uint64_t>()});
      it = pending.end() - 1;
    }
    it->count += e["count"].get<uint64_t>();
    it->bytes += e["bytes"].get<uint64_t>();
    it->failed += e.value("failed", 0);
  }
  flush();
  if (run.contains("overwrite_proof")) out += explain_overwrite(run);
  return out;
}

// The overwrite experiment, told as an experiment: hypothesis, procedure,
// observation, conclusion (the numbers from run["overwrite_proof"]).
std::string explain_overwrite(const json& run) {
  const json& p = run["overwrite_proof"];
  const std::string transport = run["transport"].get<std::string>();
  std::string out = "\nthe overwrite experiment (a proof of zero-copy that does not trust the ledger's copy counts)\n";
  out += "  question   does the display read the client's memory, or a copy of it?\n";
  out += "  procedure  after frame N is on screen (its frame callback arrived), the client writes a marker\n"
         "             naming N into frame N's own buffer (src/client/client.cpp, overwrite_after_shown);\n"
         "             just before frame N+1 replaces it, the display looks at frame N once more\n"
         "             (--verify; src/output/read_back.cpp, LeavingWitness::leaving)\n";
  if (p["witness"].is_null())
    out += "  witness    none on this output: it takes no --verify last look at outgoing frames\n";
  out += fmt::format("  prediction {}\n", p["expected"] == "seen"
                                                  ? "zero-copy: the display shows the very buffer the client wrote: marker seen"
                                                  : fmt::format("the {} transport copies the frame before it is shown: marker not seen",
                                                                transport));
  out += "  result     " + wrap(format_overwrite_line(p).substr(std::string("overwrite proof: ").size()), 13, 13);
  return out;
}

}  // namespace zc::demo
