// zcpipe-demo --hops N: the frame crosses N compositors.
//
//   client -> hop 1 -> hop 2 -> ... -> hop N -> display (--output)
//
// Hop N is an ordinary compositor on the chosen output (headless or kms);
// every other hop runs --output wayland with the next hop as its parent
// (output/wayland/). Hop 1, the one the client talks to, is started by
// run_pipeline exactly as for one hop, so the client side and the run
// record are the same; this file starts the hops behind it, stops them
// after, and adds what each of them cost from their own --stats ledgers.
#include "demo/hops.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "common/process.h"
#include "common/unique_fd.h"
#include "stats/format.h"
#include "stats/ledger_json.h"
#include "transport/socket_frame.h"

namespace zc::demo {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The figures of one process in one frame window that the hop table shows.
constexpr const char* kKeys[] = {"cpu_copies", "cpu_copy_bytes", "syscalls", "mode_switches", "context_switches", "cpu_us"};

struct HopDir {
  std::string path;
  ~HopDir() {
    if (!path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

// A raw ledger record (a compositor's --stats) in the run record's shape
// (pipeline.cpp's process_figures), for the keys above.
json figures_of_record(const json& rec) {
  json p;
  p["cpu_copies"] = rec.value("cpu_copies", 0);
  p["cpu_copy_bytes"] = rec.value("cpu_copy_bytes", 0);
  p["syscalls"] = rec.value("syscalls", json::object()).value("total", 0);
  p["mode_switches"] = rec.value("mode_switches", 0);
  p["context_switches"] = rec.value("context_switches", 0);
  p["cpu_us"] = rec.value("cpu_us", 0.0);
  p["scanout"] = rec.value("scanout", "direct");
  return p;
}

// CPU copies per frame the design gives each process (docs/hops.md): a
// dmabuf crosses every hop by handle; a hop that receives wl_shm copies it
// once into memory it shares with its parent as wl_shm again; the socket
// costs the client its write() and hop 1 its read() and copy.
uint64_t designed_copies(const std::string& transport, int hop) {
  if (transport == "dmabuf") return 0;
  if (hop == 0) return transport == "socket" ? 1 : 0;  // the client
  if (transport == "socket" && hop == 1) return 2;
  return 1;
}

// Starts one compositor of the chain and waits for its "ready".
Result<Child> start_hop(const RunOptions& o, const std::string& dir, std::vector<std::string> args) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) return Error::from_errno("pipe2");
  UniqueFd ready_r{pipefd[0]}, ready_w{pipefd[1]};
  args.insert(args.end(), {"--ready-fd", "3"});
  SpawnOptions s;
  s.argv = std::move(args);
  s.env = {{"XDG_RUNTIME_DIR", dir}, {"WAYLAND_DISPLAY", std::nullopt}};
  s.fd3 = ready_w.get();
  s.parent_death_signal = SIGTERM;
  auto c = Child::spawn(s);
  if (!c) return c.error();
  ready_w.reset();
  char buf[16];
  for (int waited_ms = 0; waited_ms < 10000; waited_ms += 100) {
    if (o.interrupt != nullptr && *o.interrupt != 0) return Error{EINTR, "interrupted"};
    pollfd p{ready_r.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      if (::read(ready_r.get(), buf, sizeof buf) > 0) return std::move(c.value());
      break;  // end of file: it died before it listened
    }
  }
  const auto st = c->wait_for(1000);
  return Error{EIO, fmt::format("a compositor of the chain did not start ({})", st ? st->describe() : "no answer within 10 s")};
}

}  // namespace

Result<json> run_hops(const RunOptions& o) {
  if (o.hops <= 1) return run_pipeline(o);
  // Destroyed last: after every child below is stopped and reaped.
  HopDir dir;
  char tmpl[] = "/tmp/zcpipe-hops-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Error::from_errno("mkdtemp");
  dir.path = tmpl;
  const std::string bin = o.bin_dir.empty() ? self_dir() : o.bin_dir;
  const int hops = static_cast<int>(o.hops);

  // Hops N .. 2, the display's first: each next one needs its parent listening.
  std::vector<Child> chain;      // chain[i] is hop N - i
  std::vector<std::string> sockets, stats;
  for (int hop = hops; hop >= 2; --hop) {
    const std::string socket = fmt::format("zcpipe-hop{}", hop);
    const std::string st = fmt::format("{}/hop{}.json", dir.path, hop);
    std::vector<std::string> args = {bin + "/zcpipe-compositor", "--socket", socket, "--size", fmt::format("{}x{}", o.width, o.height),
                                     "--refresh", std::to_string(o.refresh), "--stats", st, o.verbose ? "--verbose" : "--quiet"};
    if (hop == hops) {
      args.insert(args.end(), {"--output", o.output});
      if (!o.device.empty()) args.insert(args.end(), {"--device", o.device});
      if (o.verify) args.emplace_back("--verify");
    } else {
      args.insert(args.end(), {"--output", "wayland", "--parent", sockets.back()});
    }
    if (!o.ledger) args.emplace_back("--no-ledger");
    auto c = start_hop(o, dir.path, std::move(args));
    if (!c) return c.error();
    chain.push_back(std::move(c.value()));
    sockets.push_back(socket);
    stats.push_back(st);
  }

  // Hop 1 and the client: the one-hop run, its compositor nested on hop 2
  // (a later --output wins; an absolute path reaches the chain's directory).
  RunOptions o1 = o;
  o1.hops = 1;
  o1.compositor_args.insert(o1.compositor_args.end(), {"--output", "wayland", "--parent", dir.path + "/" + sockets.back()});
  auto res = run_pipeline(o1);
  // Stop the chain from hop 2 down to the display: a parent outlives its
  // children, so none of them sees its parent vanish.
  std::vector<ExitStatus> exits(chain.size());
  for (size_t i = chain.size(); i-- > 0;) exits[i] = chain[i].terminate(10000);
  if (!res) return res.error();
  json run = std::move(res.value());

  std::vector<json> hop_stats(static_cast<size_t>(hops) + 1);  // [h] = hop h's --stats, h >= 2
  for (size_t i = 0; i < chain.size(); ++i) {
    auto j = load_json(stats[i]);
    if (!j) return Error{EIO, fmt::format("hop {} ({}): {}", hops - static_cast<int>(i), exits[i].describe(), j.error().message())};
    hop_stats[static_cast<size_t>(hops) - i] = std::move(j.value());
  }

  // Every process's figures, frame by frame: [0] the client, [h] hop h.
  std::vector<std::map<uint64_t, json>> by_frame(static_cast<size_t>(hops) + 1);
  for (const auto& f : run["frames"]) {
    const uint64_t n = f["frame"].get<uint64_t>();
    by_frame[0][n] = f["client"];
    if (!f["compositor"].empty()) {
      by_frame[1][n] = f["compositor"];
      by_frame[1][n]["scanout"] = f.value("scanout", "direct");
    }
  }
  for (int h = 2; h <= hops; ++h) {
    const json& s = hop_stats[static_cast<size_t>(h)];
    if (!s.contains("ledger")) continue;
    for (const auto& r : s["ledger"]["frames"]) by_frame[static_cast<size_t>(h)][r.value("frame", uint64_t{0})] = figures_of_record(r);
  }

  const std::string transport = run["transport"].get<std::string>();
  json per_hop = json::array();
  json total = json::object();
  bool copies_ok = true;
  double cumulative_bytes = 0;
  for (int h = 0; h <= hops; ++h) {
    std::map<std::string, std::vector<double>> series;
    uint64_t wrong = 0, fallback_frames = 0;
    const uint64_t want = designed_copies(transport, h);
    for (const auto& [n, fig] : by_frame[static_cast<size_t>(h)]) {
      // An output that could not show the buffer it was handed (KMS: the
      // plane refused it; wayland: the parent could not import it) copies
      // once more, and says so with its reason in that frame's record.
      const uint64_t fallback = fig.value("scanout", std::string("direct")) == "copy" ? 1 : 0;
      if (fig.value("cpu_copies", uint64_t{0}) != want + fallback) wrong++;
      if (fallback != 0) fallback_frames++;
      if (n < o.warmup) continue;
      for (const char* k : kKeys) series[k].push_back(fig.value(k, 0.0));
    }
    json row;
    row["hop"] = h;
    row["process"] = h == 0 ? "client" : "compositor";
    row["output"] = h == 0 ? "" : h == 1 ? "wayland" : hop_stats[static_cast<size_t>(h)].value("output", "");
    row["frames"] = by_frame[static_cast<size_t>(h)].size();
    row["designed_cpu_copies"] = want;
    row["frames_with_other_copies"] = wrong;
    row["frames_output_copied"] = fallback_frames;
    for (const char* k : kKeys) {
      const double m = series[k].empty() ? 0.0 : stats::summarize(series[k]).median;
      row[k] = m;
      total[k] = total.value(k, 0.0) + m;
    }
    cumulative_bytes += row["cpu_copy_bytes"].get<double>();
    row["cumulative_cpu_copy_bytes"] = cumulative_bytes;  // the client and every hop up to this one
    if (h >= 2) {
      row["exit_status"] = exits[static_cast<size_t>(hops - h)].shell_status();
      row["output_counters"] = hop_stats[static_cast<size_t>(h)].value("output_counters", json::object());
    }
    if (wrong != 0 || by_frame[static_cast<size_t>(h)].empty()) copies_ok = false;
    per_hop.push_back(std::move(row));
  }
  run["hops"] = hops;
  run["per_hop"] = per_hop;
  run["hops_total"] = total;  // sums of the per-process medians
  run["output"] = hop_stats[static_cast<size_t>(hops)].value("output", o.output);
  run["output_description"] = hop_stats[static_cast<size_t>(hops)].value("output_description", "");
  if (hop_stats[static_cast<size_t>(hops)].contains("mode")) run["refresh_hz"] = hop_stats[static_cast<size_t>(hops)]["mode"].value("refresh_hz", 0.0);

  // The display is hop N: what it showed is checked against what the
  // client rendered, frame by frame (each hop commits every frame it gets,
  // so commit k at the display is the client's frame k).
  if (o.verify) {
    std::map<uint64_t, std::string> shown;
    const json& root = hop_stats[static_cast<size_t>(hops)];
    if (root.contains("ledger"))
      for (const auto& r : root["ledger"]["frames"])
        if (r.contains("checksum")) shown[r.value("frame", uint64_t{0})] = r["checksum"].get<std::string>();
    uint64_t verified = 0, mismatched = 0;
    for (auto& f : run["frames"]) {
      const auto it = shown.find(f["frame"].get<uint64_t>());
      const bool ok = it != shown.end() && f.contains("checksum_rendered") && f["checksum_rendered"] == it->second;
      if (it != shown.end()) f["checksum_shown"] = it->second;
      f["verified"] = ok;
      ok ? verified++ : mismatched++;
    }
    run["frames_verified"] = verified;
    run["frames_mismatched"] = mismatched;
    run["checks"]["every_checksum_verified"] = mismatched == 0 && verified == o.frames;
    run["checks"]["display_never_rewritten"] = root.value("output_counters", json::object()).value("shown_buffer_rewritten", 0) == 0;
  }
  run["checks"]["copies_per_hop_as_designed"] = copies_ok;
  bool clean = true;
  for (const auto& e : exits) clean = clean && e.ok();
  run["checks"]["hops_exited_cleanly"] = clean;
  bool passed = true;
  for (auto& [k, v] : run["checks"].items())
    if (k != "passed" && v.is_boolean() && !v.get<bool>()) passed = false;
  run["checks"]["passed"] = passed;
  return run;
}

std::string format_hops(const json& run) {
  if (!run.contains("per_hop")) return "";
  const int hops = run["hops"].get<int>();
  std::string out = fmt::format("per process, per frame (medians; hop 1 is the client's compositor, hop {} shows the frame on {})\n", hops,
                                run.value("output", std::string("?")));
  out += fmt::format("  {:<22} {:>9} {:>14} {:>9} {:>12} {:>11} {:>9}\n", "", "copies", "bytes copied", "syscalls", "mode sw", "sched sw", "CPU us");
  auto line = [&](const std::string& label, const json& r) {
    out += fmt::format("  {:<22} {:>9} {:>14} {:>9} {:>12} {:>11} {:>9}\n", label, stats::format_count(r["cpu_copies"].get<double>()),
                       stats::format_count(r["cpu_copy_bytes"].get<double>()), stats::format_count(r["syscalls"].get<double>()),
                       stats::format_count(r["mode_switches"].get<double>()), stats::format_count(r["context_switches"].get<double>()),
                       stats::format_count(r["cpu_us"].get<double>()));
  };
  for (const auto& r : run["per_hop"]) {
    const int h = r["hop"].get<int>();
    line(h == 0 ? std::string("client") : fmt::format("hop {} ({})", h, r["output"].get<std::string>()), r);
  }
  line("all processes", run["hops_total"]);
  const json& pf = run["per_frame"];
  if (pf.contains("latency_us"))
    out += fmt::format("  latency commit -> on the display, across {} hops: {} us (median), {} us (p99)\n", hops,
                       stats::format_count(pf["latency_us"]["median"].get<double>()), stats::format_count(pf["latency_us"]["p99"].get<double>()));
  out += fmt::format("  ZERO_COPY end to end: {}/{} frames; copies per hop as designed: {}\n", run["frames_zero_copy"].get<uint64_t>(),
                     run["frames_presented"].get<uint64_t>(), run["checks"].value("copies_per_hop_as_designed", false) ? "yes" : "NO");
  return out;
}

json hops_model_vs_measured(const json& runs) {
  json out = json::array();
  for (const auto& run : runs) {
    if (!run.contains("per_hop")) continue;
    const std::string t = run["transport"].get<std::string>();
    const int n = run["hops"].get<int>();
    const double hops = static_cast<double>(n);
    const uint64_t chunks = transport::chunks_for(run.value("frame_bytes", uint64_t{0}), run.value("chunk", uint64_t{65536}));
    // The articles: 380 transfers of a 24-bit 4K frame, 3 switches each,
    // at every hop. The same model for this run's frame and chunk size.
    const double model_switches = 3.0 * static_cast<double>(chunks) * hops;
    const json& tot = run["hops_total"];
    json rows = json::array();
    auto row = [&](std::string q, json model, double measured, std::string why) {
      rows.push_back({{"quantity", std::move(q)}, {"model", std::move(model)}, {"measured", measured}, {"why", std::move(why)}});
    };
    const std::string first_hop_only =
        "only the first hop streams the frame through a socket (the articles' case); every further hop hands its parent a wl_shm pool "
        "by one Wayland message, so the socket's cost is paid once, not at every hop";
    row(fmt::format("context switches, {} hops (articles: 1140 per hop at 24 bits, {} for four)", n, 4 * 1140), model_switches,
        tot["context_switches"].get<double>(),
        t == "dmabuf" ? "Far below: no hop moves pixels. Each passes a handle (the fds once per buffer, then a buffer id) and a few "
                        "Wayland messages; the scheduler switches a few times per hop, whatever the frame's size."
        : t == "shm"  ? "Far below: the pixels never cross a socket. Each hop copies them once into memory its parent maps and says so in "
                        "one Wayland message; the scheduler switches a few times per hop."
                      : "Below: " + first_hop_only +
                            "; and the scheduler switches only when a socket buffer fills or empties, not at every transfer (the articles "
                            "count mode switches as context switches).");
    row(fmt::format("user<->kernel mode switches, {} hops", n), model_switches, tot["mode_switches"].get<double>(),
        t == "socket" ? "Near the model at the first hop (a write() and a read() per 64 KiB, 2 mode switches each), tens at every "
                        "further hop: " + first_hop_only + "."
                      : "Far below: tens of syscalls per hop (Wayland messages, the event loop), none per byte of the frame.");
    row(fmt::format("CPU copies of the frame, {} hops (a copying path pays at every hop)", n), 2.0 * hops, tot["cpu_copies"].get<double>(),
        t == "dmabuf" ? "None: the same buffer crosses every hop by handle, and the display reads it as it is."
        : t == "shm"  ? "One per hop instead of two: a hop copies the frame into memory its parent maps; no kernel socket copy in between."
                      : "The socket's two copies once (write, read), then one per hop: the first hop copies into its shared pool, each "
                        "further hop copies what it received into its own.");
    out.push_back({{"transport", t},
                   {"hops", n},
                   {"chunks_per_frame", chunks},
                   {"articles_switches_per_hop", 1140},
                   {"articles_switches_four_hops", 4 * 1140},
                   {"latency_us", run["per_frame"].contains("latency_us") ? run["per_frame"]["latency_us"]["median"] : json()},
                   {"rows", rows}});
  }
  return out;
}

std::string format_hops_model(const json& model) {
  std::string out;
  for (const auto& m : model) {
    out += fmt::format("\nthe articles' hops vs this run ({}, {} hops; model for this frame: {} transfers x 3 switches per hop)\n",
                       m["transport"].get<std::string>(), m["hops"].get<int>(), stats::format_count(m["chunks_per_frame"].get<double>()));
    out += fmt::format("  {:<82} {:>9} {:>9}\n", "", "model", "measured");
    for (const auto& r : m["rows"]) {
      out += fmt::format("  {:<82} {:>9} {:>9}\n", r["quantity"].get<std::string>(), stats::format_count(r["model"].get<double>()),
                         stats::format_count(r["measured"].get<double>()));
      out += fmt::format("      {}\n", r["why"].get<std::string>());
    }
  }
  return out;
}

}  // namespace zc::demo
