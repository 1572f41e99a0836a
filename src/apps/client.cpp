// zcpipe-client: renders numbered frames into GBM / udmabuf / memfd buffers
// and hands them to a Wayland compositor by file descriptor.
#include <signal.h>

#include <fstream>

#include "apps/cli_common.h"
#include "client/client.h"
#include "common/log.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"

int main(int argc, char** argv) {
  using namespace zc;
  log::set_prefix("zcpipe-client");
  CLI::App app{"zcpipe-client: render frames and hand them to a Wayland compositor by DMA-BUF file descriptor"};
  apps::setup(app, "zcpipe-client");
  client::ClientConfig cfg;
  std::string socket, size = "3840x2160", format = "XRGB8888", allocator = "auto", render = "full", stats_path;
  bool no_ledger = false;
  bool no_checksum = false, verbose = false, quiet = false, progress = false;
  std::string transport = "dmabuf";
  app.add_option("--transport", transport, "dmabuf (fd, 0 copies) | shm (wl_shm, 1 copy) | socket (pixels through a socket, 3 copies)")
      ->check(CLI::IsMember({"dmabuf", "shm", "socket"}))->capture_default_str();
  app.add_option("--chunk", cfg.chunk, "socket transport: bytes per write()")->check(CLI::Range(4096u, 16u << 20))->capture_default_str();
  app.add_option("--socket", socket, "Wayland socket name (default: $WAYLAND_DISPLAY)");
  app.add_option("--size", size, "Frame size WIDTHxHEIGHT")->capture_default_str();
  app.add_option("--format", format, "DRM format")->capture_default_str();
  app.add_option("--frames", cfg.frames, "Frames to present")->check(CLI::Range(1ull, 10000000ull))->capture_default_str();
  app.add_option("--buffers", cfg.buffers, "Buffers in the ring")->check(CLI::Range(2u, 16u))->capture_default_str();
  app.add_option("--warmup", cfg.warmup, "Leading frames excluded from summaries")->capture_default_str();
  app.add_option("--allocator", allocator, "auto | gbm | udmabuf | memfd")
      ->check(CLI::IsMember({"auto", "gbm", "udmabuf", "memfd"}))->capture_default_str();
  app.add_option("-D,--device", cfg.allocator.device_path, "DRM node for the GBM allocator (default: from dmabuf feedback)");
  app.add_option("--render", render, "full: draw every pixel; header: only the frame number rows; none: no drawing")
      ->check(CLI::IsMember({"full", "header", "none"}))->capture_default_str();
  std::string renderer = "cpu";
  app.add_option("--renderer", renderer, "cpu: the CPU writes every pixel | gl: the GPU draws (EGL on GBM; dmabuf transport) | auto: gl where it works, else cpu")
      ->check(CLI::IsMember({"cpu", "gl", "auto"}))->capture_default_str();
  app.add_flag("--no-checksum", no_checksum, "Do not checksum rendered frames");
  app.add_flag("--overwrite-proof", cfg.overwrite_proof,
               "After each frame is shown, write a marker into its buffer; the compositor's --verify sees it only if the display reads the client's memory");
  app.add_flag("--follow-feedback", cfg.follow_feedback,
               "dmabuf: when the compositor's per-surface feedback says the display scans out another format, switch the ring to it (else only the modifier may change)");
  app.add_flag("--no-ledger", no_ledger, "Do not sample per-frame counters (to measure the ledger's own overhead)");
  app.add_option("--timeout", cfg.timeout_ms, "Milliseconds to wait for the compositor before giving up")
      ->check(CLI::Range(0, 7 * 86400 * 1000))->capture_default_str();
  app.add_option("--stats", stats_path, "Write the client's per-frame ledger as JSON to FILE");
  app.add_flag("--progress", progress, "Live progress line on stderr");
  uint64_t trace_frame = UINT64_MAX;
  app.add_option("--trace-frame", trace_frame, "Record every syscall and step of this frame into --stats (for zcpipe-demo --explain)");
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  app.add_flag("-q,--quiet", quiet, "Errors only");
  if (int st = apps::parse(app, argc, argv, [&] {
        apps::parse_size(size, cfg.width, cfg.height);
        cfg.format = apps::parse_format(format);
        // Only when asked for: test clients run a few frames with the
        // default warm-up and judge nothing from the client's summaries
        // (zcpipe-demo, which does, always refuses).
        if (app.count("--warmup") > 0) apps::check_frames_after_warmup(cfg.frames, cfg.warmup);
        apps::check_output_path("--stats", stats_path);
        if (renderer == "gl" && transport != "dmabuf")
          throw CLI::ValidationError("--renderer", "gl draws into dma-bufs: it needs --transport dmabuf, not " + transport);
        if (cfg.overwrite_proof && render == "none")
          throw CLI::ValidationError("--overwrite-proof",
                                     "needs --render full or header: the display tells which frame it shows by its frame-number rows");
      });
      st >= 0)
    return st;
  if (verbose) log::set_level(log::Level::debug);
  if (quiet) log::set_level(log::Level::error);
  ::signal(SIGPIPE, SIG_IGN);
  cfg.socket = socket;
  cfg.transport = transport == "dmabuf" ? client::Transport::dmabuf
                  : transport == "shm"  ? client::Transport::shm
                                        : client::Transport::socket;
  cfg.allocator.choice = *buffer::allocator_choice_from_name(allocator);
  cfg.render = render == "full" ? client::Render::full : render == "header" ? client::Render::header : client::Render::none;
  cfg.checksum = !no_checksum;
  cfg.renderer = renderer == "gl" ? client::RendererChoice::gl
                 : renderer == "auto" ? client::RendererChoice::automatic
                                      : client::RendererChoice::cpu;
  cfg.progress = progress;

  // The client also samples its whole process's CPU (one getrusage more per
  // frame): a GL driver draws in threads of its own, which the per-thread
  // figures miss, so cpu and gl renderers compare fairly only on this one.
  stats::LedgerOptions ledger_options;
  ledger_options.process_cpu = true;
  auto ledger = stats::FrameLedger::create("client", ledger_options);
  if (!ledger) {
    log::error("cannot start the frame ledger: {}", ledger.error().message());
    return 1;
  }
  ledger->set_trace_frame(trace_frame);
  auto c = client::Client::create(cfg, no_ledger ? nullptr : &ledger.value());
  if (!c) {
    log::error("{}", c.error().message());
    return 1;
  }
  auto r = (*c)->run();
  nlohmann::json j = (*c)->report();
  if (!r) log::error("{}", r.error().message());
  else
    log::info("presented {}/{} frames ({} zero-copy)", j["frames_presented"].get<uint64_t>(),
              j["frames_requested"].get<uint64_t>(), j["frames_zero_copy"].get<uint64_t>());
  if (!stats_path.empty()) {
    j["process"] = "client";
    j["error"] = r ? "" : r.error().message();
    if (!no_ledger) j["ledger"] = stats::to_json(*ledger);
    std::ofstream f(stats_path);
    f << j.dump() << '\n';
    if (!f) {
      log::error("cannot write {}", stats_path);
      return 1;
    }
  }
  return r ? 0 : 1;
}
