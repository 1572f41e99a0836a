// zcpipe-compositor: a minimal Wayland compositor that shows each client
// buffer directly, without copying it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "apps/cli_common.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "output/factory.h"
#include "server/server.h"
#include "stats/ledger.h"


int main(int argc, char** argv) {
  using namespace zc;
  log::set_prefix("zcpipe-compositor");
  CLI::App app{"zcpipe-compositor: a minimal Wayland compositor that scans client buffers out without copying them"};
  std::string socket = "zcpipe-0";
  std::string output_name = "auto";
  uint32_t refresh = 60;
  std::string size = "3840x2160";
  bool verify = false;
  std::string stats_path;
  int ready_fd = -1;
  bool verbose = false, quiet = false, no_ledger = false;
  uint64_t exit_after = 0;
  app.add_option("--socket", socket, "Socket name in $XDG_RUNTIME_DIR")->capture_default_str();
  output::OutputOptions oo;
  bool no_atomic = false;
  app.add_option("--output", output_name, "auto | headless | kms")->check(CLI::IsMember({"auto", "headless", "kms"}))->capture_default_str();
  app.add_option("--device", oo.device, "kms: DRM device node (default: the first card with a connected connector)");
  app.add_option("--mode", oo.mode, "kms: WIDTHxHEIGHT[@HZ] (default: the connector's preferred mode)");
  app.add_flag("--no-atomic", no_atomic, "kms: use legacy drmModeSetCrtc/drmModePageFlip instead of atomic commits");
  app.add_option("--refresh", refresh, "Headless refresh rate in Hz (0 = unpaced: present at once)")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--size", size, "Headless output size WIDTHxHEIGHT")->capture_default_str();
  app.add_flag("--verify", verify, "Checksum every presented frame (reads, never copies)");
  app.add_option("--stats", stats_path, "Write the compositor's per-frame ledger as JSON to FILE at exit");
  app.add_option("--ready-fd", ready_fd, "Write 'ready' to this fd once the socket listens (for launchers)");
  uint64_t trace_frame = UINT64_MAX;
  app.add_option("--trace-frame", trace_frame, "Record every syscall and step of this frame into --stats (for zcpipe-demo --explain)");
  app.add_option("--exit-after-clients", exit_after, "Exit once N clients have connected and gone (0 = run until SIGTERM)");
  app.add_flag("--no-ledger", no_ledger, "Do not sample per-frame counters (to measure the ledger's own overhead)");
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  app.add_flag("-q,--quiet", quiet, "Errors only");
  uint32_t width = 0, height = 0;
  try {
    app.parse(argc, argv);
    apps::parse_size(size, width, height);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) log::set_level(log::Level::debug);
  if (quiet) log::set_level(log::Level::error);
  ::signal(SIGPIPE, SIG_IGN);

  if (std::getenv("XDG_RUNTIME_DIR") == nullptr) {
    log::error("XDG_RUNTIME_DIR is not set: it is where the Wayland socket lives (export XDG_RUNTIME_DIR=/run/user/$(id -u))");
    return 1;
  }
  auto ledger = stats::FrameLedger::create("compositor");
  if (!ledger) {
    log::error("cannot start the frame ledger: {}", ledger.error().message());
    return 1;
  }
  // Frame records reserved up front so the steady state neither grows the
  // ledger's vectors nor rehashes per frame: 100,000 frames is 27 minutes at
  // 60 Hz; a longer run grows them (rarely: each growth doubles).
  constexpr size_t kLedgerFramesReserved = 100'000;
  ledger->reserve(kLedgerFramesReserved);
  ledger->set_trace_frame(trace_frame);
  auto server = server::Server::create(server::ServerConfig{socket, exit_after});
  if (!server) {
    log::error("{}", server.error().message());
    return 1;
  }
  oo.name = output_name;
  oo.width = width;
  oo.height = height;
  oo.refresh_hz = refresh;
  oo.verify = verify;
  oo.atomic = !no_atomic;
  auto out = output::create_output((*server)->loop(), oo);
  if (!out) {
    log::error("{}", out.error().message());
    return 1;
  }
  const output::Mode mode = (*out)->mode();
  const std::string out_name = (*out)->name();
  if (auto r = (*server)->start(std::move(out.value()), no_ledger ? nullptr : &ledger.value()); !r) {
    log::error("{}", r.error().message());
    return 1;
  }
  log::info("listening on {}/{} — output {} {}x{} {}", std::getenv("XDG_RUNTIME_DIR"), (*server)->socket_name(),
            out_name, mode.width, mode.height,
            mode.refresh_mhz ? fmt::format("@{:.2f} Hz", mode.refresh_mhz / 1000.0) : std::string("unpaced"));
  if (ready_fd >= 0) {
    UniqueFd fd{ready_fd};
    if (::write(fd.get(), "ready\n", 6) != 6) log::warn("cannot write to --ready-fd {}", ready_fd);
  }
  // Counted after the ready fd is closed: from here on, every client that
  // comes and goes must leave this number unchanged.
  const int fds_at_start = count_open_fds();
  (*server)->run();

  ledger->end_frame();
  const server::ServerCounters c = (*server)->counters();
  const auto scanout = (*server)->scanout_counters();  // after every client left, before shutdown frees the rest
  (*server)->shutdown();
  const int fds_at_end = count_open_fds();
  log::info("stopped: {} commits, {} presented ({} zero-copy), {} discarded, {} protocol errors, {} clients",
            c.commits, c.presented, c.zero_copy, c.discarded, c.protocol_errors, c.clients_connected);
  if (!stats_path.empty()) {
    nlohmann::json j;
    j["process"] = "compositor";
    j["output"] = out_name;
    j["output_description"] = (*server)->output().description();
    j["mode"] = {{"width", mode.width}, {"height", mode.height}, {"refresh_hz", mode.refresh_mhz / 1000.0}};
    j["verify"] = verify;
    j["counters"] = {{"commits", c.commits},
                     {"presented", c.presented},
                     {"zero_copy", c.zero_copy},
                     {"discarded", c.discarded},
                     {"released", c.released},
                     {"buffers_imported", c.buffers_imported},
                     {"import_failures", c.import_failures},
                     {"protocol_errors", c.protocol_errors},
                     {"clients_connected", c.clients_connected},
                     {"clients_disconnected", c.clients_disconnected}};
    j["fds_at_start"] = fds_at_start;
    j["fds_at_end"] = fds_at_end;
    j["scanout"] = nlohmann::json::object();
    for (const auto& [k, v] : scanout) j["scanout"][k] = v;
    j["output_counters"] = nlohmann::json::object();
    for (const auto& [k, v] : (*server)->output().counters()) j["output_counters"][k] = v;
    if (!no_ledger) j["ledger"] = ledger->to_json();
    std::ofstream f(stats_path);
    f << j.dump() << '\n';
    if (!f) {
      log::error("cannot write {}", stats_path);
      return 1;
    }
  }
  return 0;
}
