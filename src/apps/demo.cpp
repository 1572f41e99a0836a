// zcpipe-demo: one command that runs the whole pipeline (compositor + client
// as separate processes on a private socket) and shows what each frame cost.
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iostream>

#include "apps/cli_common.h"
#include "common/log.h"
#include "demo/copybench_run.h"
#include "demo/hops.h"
#include "demo/pipeline.h"
#include "demo/sizes.h"
#include "report/report.h"

namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// SIGINT (Ctrl-C), SIGTERM and SIGHUP only set this flag: the run in
// progress sees it, stops the compositor and the client, removes its
// directory and returns; main() then dies of the same signal, so whoever
// started us sees what happened.
volatile sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) { g_stop_signal = sig; }

void install_stop_handlers() {
  struct sigaction sa{};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

// --renderer cpu,gl: the renderers to run, in order, each once.
std::vector<std::string> split_renderers(const std::string& list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t end = std::min(list.find(',', pos), list.size());
    const std::string r = list.substr(pos, end - pos);
    if (r != "cpu" && r != "gl" && r != "auto")
      throw CLI::ValidationError("--renderer", "'" + r + "' is not a renderer: use cpu, gl, auto or a list such as cpu,gl");
    if (std::find(out.begin(), out.end(), r) != out.end())
      throw CLI::ValidationError("--renderer", r + " is listed twice");
    out.push_back(r);
    pos = end + 1;
  }
  return out;
}

[[noreturn]] void die_of(int sig) {
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  std::_Exit(128 + sig);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zc;
  log::set_prefix("zcpipe-demo");
  CLI::App app{"zcpipe-demo: run the zero-copy pipeline end to end and count what every frame costs"};
  apps::setup(app, "zcpipe-demo");
  demo::RunOptions o;
  std::string size = "3840x2160", json_path;
  std::string transport = "dmabuf";
  bool quiet = false;
  bool verify = true;
  app.add_option("--transport", transport,
                 "How pixels travel: dmabuf (an fd, 0 copies) | shm (wl_shm, 1 copy) | socket (64 KiB writes, 3 copies) | all")
      ->check(CLI::IsMember({"dmabuf", "shm", "socket", "all"}))->capture_default_str();
  app.add_option("--chunk", o.chunk, "socket transport: bytes per write()/read()")->check(CLI::Range(4096u, 16u << 20))->capture_default_str();
  app.add_option("--output", o.output, "auto (kms when a display can be driven, else headless) | headless | kms")
      ->check(CLI::IsMember({"auto", "headless", "kms"}))->capture_default_str();
  app.add_option("--hops", o.hops,
                 "Compositors the frame crosses: 1 = one compositor; N chains N-1 nested ones (--output wayland) in front of "
                 "the one on --output, and shows the cost of every hop (docs/hops.md)")
      ->check(CLI::Range(1u, demo::kMaxHops))->capture_default_str();
  app.add_option("-D,--device", o.device, "kms: DRM node for the compositor (default: the first card with a connected connector)");
  app.add_option("--refresh", o.refresh, "Headless refresh in Hz (0 = unpaced)")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--size", size, "Frame and output size WIDTHxHEIGHT")->capture_default_str();
  app.add_option("--format", o.format, "DRM format of the client's frames")->capture_default_str();
  app.add_option("--frames", o.frames, "Frames to run")->check(CLI::Range(1ull, 1000000ull))->capture_default_str();
  app.add_option("--warmup", o.warmup, "Leading frames excluded from the summary")->capture_default_str();
  app.add_option("--allocator", o.allocator, "auto | gbm | udmabuf | memfd")
      ->check(CLI::IsMember({"auto", "gbm", "udmabuf", "memfd"}))->capture_default_str();
  app.add_option("--render", o.render, "full | header (only the frame number rows) | none (no drawing: measures delivery alone)")
      ->check(CLI::IsMember({"full", "header", "none"}))->capture_default_str();
  std::string renderer_list = o.renderer;
  app.add_option("--renderer", renderer_list,
                 "Who draws the client's frames: cpu | gl (the GPU, EGL on GBM; dmabuf only) | auto, or a list (cpu,gl) "
                 "to run each and compare them side by side")
      ->capture_default_str();
  apps::add_switch(app, "verify", verify, "Checksum every shown frame against the rendered one");
  std::string report_dir;
  app.add_option("--report", report_dir, "Write DIR/report.html (open it in a browser) and DIR/run.json");
  std::string sizes_list;
  app.add_option("--sizes", sizes_list,
                 "Also run all three transports at each of these sizes (e.g. 1280x720,1920x1080,3840x2160; headless, "
                 "unpaced, nothing drawn, 10 frames each) and chart cost per frame against frame size");
  bool copybench = true;
  apps::add_switch(app, "copybench",
                   copybench, "With --report: run zcpipe-copybench (about a second) and show its table as a section of the report");
  app.add_option("--json", json_path,
                 "Write every run's record to FILE (schema: docs/json.md); '-' writes it to stdout, and the tables then go to stderr");
  app.add_option("--timeout", o.timeout_s, "Seconds before a run is abandoned (0 = no limit)")
      ->check(CLI::Range(0, 7 * 86400))->capture_default_str();
  bool explain = false;
  app.add_flag("--explain", explain, "After each run, narrate one frame's journey: each step's source file and function, each syscall with its fd and bytes");
  int64_t explain_frame = -1;
  app.add_option("--explain-frame", explain_frame,
                 "The frame --explain narrates (default: the first after warm-up). 0 shows what happens once per buffer: "
                 "on kms, its import (PRIME_FD_TO_HANDLE), its framebuffer (ADDFB2), the first commit")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--overwrite-proof", o.overwrite_proof,
               "A proof of zero-copy that does not trust the ledger: the client writes a marker into each frame's buffer "
               "after it was shown; the display sees it only if it reads the client's memory (needs --verify)");
  app.add_flag("--follow-feedback", o.follow_feedback,
               "The client follows its surface's dmabuf feedback to another format (e.g. --format ARGB8888 becomes "
               "XRGB8888 once the compositor says the plane takes only that)");
  app.add_flag("-q,--quiet", quiet, "No progress line, only the summary");
  app.add_flag("-v,--verbose", o.verbose, "Show the compositor's and client's logs");
  std::vector<std::pair<uint32_t, uint32_t>> sizes;
  std::vector<std::string> renderers;
  if (int st = apps::parse(app, argc, argv, [&] {
        apps::parse_size(size, o.width, o.height);
        if (!sizes_list.empty()) {
          auto s = demo::parse_sizes(sizes_list);
          if (!s) throw CLI::ValidationError("--sizes", s.error().what);
          sizes = *s;
        }
        apps::parse_format(o.format);
        apps::check_frames_after_warmup(o.frames, o.warmup);
        apps::check_output_path("--json", json_path);
        apps::check_output_path("--report", report_dir, true);
        renderers = split_renderers(renderer_list);
        for (const auto& r : renderers)
          if (r == "gl" && transport != "dmabuf")
            throw CLI::ValidationError("--renderer", "gl draws into dma-bufs: it needs --transport dmabuf, not " + transport);
        if (explain_frame >= 0 && static_cast<uint64_t>(explain_frame) >= o.frames)
          throw CLI::ValidationError("--explain-frame", fmt::format("{} is past the run's last frame, {} (--frames {})",
                                                                    explain_frame, o.frames - 1, o.frames));
        if (o.overwrite_proof && !verify)
          throw CLI::ValidationError("--overwrite-proof", "the witness is --verify's look at the shown frame: drop --no-verify");
        if (o.overwrite_proof && o.render == "none")
          throw CLI::ValidationError("--overwrite-proof",
                                     "needs --render full or header: the display tells which frame it shows by its frame-number rows");
      });
      st >= 0)
    return st;
  o.verify = verify;
  // With --json -, stdout carries the JSON alone (for a pipe into jq).
  const bool json_to_stdout = json_path == "-";
  std::ostream& human = json_to_stdout ? std::cerr : std::cout;
  install_stop_handlers();
  o.interrupt = &g_stop_signal;
  if (explain_frame >= 0) explain = true;
  if (explain) o.trace_frame = explain_frame >= 0 ? explain_frame : static_cast<int64_t>(std::min<uint64_t>(o.frames - 1, o.warmup + 1));
  o.progress = !quiet && ::isatty(STDERR_FILENO) != 0;

  std::vector<std::string> transports = {transport};
  if (transport == "all") transports = {"dmabuf", "shm", "socket"};
  nlohmann::json doc;
  doc["zcpipe_version"] = ZCPIPE_VERSION;
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  doc["command"] = cmd;
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc["date"] = date;
  utsname u{};
  ::uname(&u);
  doc["host"] = {{"kernel", std::string(u.sysname) + " " + u.release},
                 {"cpu", cpu_model()},
                 {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)}};
  doc["runs"] = nlohmann::json::array();
  bool ok = true;
  // Every transport with every renderer: --transport all and --renderer
  // cpu,gl are the same mechanism, runs one after another, compared in one
  // side-by-side table below.
  std::vector<std::pair<std::string, std::string>> plan;
  for (const auto& t : transports)
    for (const auto& r : renderers) plan.emplace_back(t, r);
  for (const auto& [t, r] : plan) {
    o.transport = t;
    o.renderer = r;
    auto run = o.hops > 1 ? demo::run_hops(o) : demo::run_pipeline(o);
    if (g_stop_signal != 0) die_of(g_stop_signal);  // children stopped, directory removed
    if (!run) {
      log::error("{} run failed: {}", t, run.error().message());
      return 1;
    }
    human << demo::format_run(*run) << demo::format_hops(*run) << demo::format_explain(*run) << (plan.size() > 1 ? "\n" : "")
          << std::flush;
    ok = ok && (*run)["checks"].value("passed", false);
    doc["runs"].push_back(std::move(run.value()));
  }
  o.renderer = renderers.front();  // --sizes and the rest: the first renderer listed
  demo::label_runs(doc["runs"]);
  nlohmann::json model;
  for (const auto& r : doc["runs"])
    if (r["transport"] == "socket") model = demo::model_vs_measured(r);
  if (!model.is_null()) doc["model_vs_measured"] = model;
  if (doc["runs"].size() > 1 || !model.is_null()) human << demo::format_comparison(doc["runs"], model) << std::flush;
  if (o.hops > 1) {
    doc["hops_model_vs_measured"] = demo::hops_model_vs_measured(doc["runs"]);
    human << demo::format_hops_model(doc["hops_model_vs_measured"]) << std::flush;
  }
  if (!sizes.empty()) {
    auto s = demo::run_sizes(o, sizes);
    if (g_stop_signal != 0) die_of(g_stop_signal);
    if (!s) {
      log::error("{}", s.error().message());
      return 1;
    }
    human << demo::format_sizes(*s) << std::flush;
    doc["sizes"] = std::move(s.value());
  }
  // The classic techniques, measured: cheap (about a second), so a report
  // has them unless told not to. Three repeats: medians of counts that
  // hardly vary, and times read as indications.
  if (!report_dir.empty() && copybench) {
    auto c = demo::run_copybench(o.bin_dir, 3, 120, &g_stop_signal);
    if (g_stop_signal != 0) die_of(g_stop_signal);
    if (!c) {
      log::error("{}", c.error().message());
      return 1;
    }
    doc["copybench"] = std::move(c.value());
  }
  if (json_to_stdout) {
    std::cout << doc.dump(1) << '\n' << std::flush;
  } else if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << doc.dump(1) << '\n';
    if (!f) {
      log::error("cannot write {}", json_path);
      return 1;
    }
    human << "json: " << json_path << "\n";
  }
  if (!report_dir.empty()) {
    auto r = report::write_report(report_dir, doc);
    if (!r) {
      log::error("{}", r.error().message());
      return 1;
    }
    human << "report: " << *r << "\n";
  }
  return ok ? 0 : 1;
}
