// zcpipe-compositor: a minimal Wayland compositor that shows each client
// buffer directly, without copying it.
//
//   zcpipe-compositor                          listen on the first free wayland-N
//   zcpipe-compositor -- COMMAND [ARGS...]     also start COMMAND as a client
//                                              (WAYLAND_DISPLAY set), and exit
//                                              with its status when it exits
//
// SIGTERM, SIGINT and SIGHUP (the terminal went away) all stop it the same
// way: stats written, clients disconnected, socket and lock file removed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>

#include <cstdio>
#include <memory>
#include <cstdlib>
#include <fstream>

#include "apps/cli_common.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "output/factory.h"
#include "output/scanout_reason.h"
#include "server/server.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"

namespace {

// The client started after `--`, watched from the event loop.
struct Command {
  zc::Child child;
  wl_display* display = nullptr;
};

// SIGCHLD arrives through libwayland's signalfd (the signal is blocked, so
// it cannot be lost between fork and the loop's first dispatch).
int on_sigchld(int, void* data) {
  auto* cmd = static_cast<Command*>(data);
  if (!cmd->child.running()) wl_display_terminate(cmd->display);
  return 0;
}

int on_sighup(int, void* data) {
  static_cast<zc::server::Server*>(data)->terminate();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zc;
  log::set_prefix("zcpipe-compositor");
  // The parent compositor for --output wayland, read before anything else:
  // we export our own WAYLAND_DISPLAY to the command we start, and a nested
  // compositor must never take its own socket for its parent's.
  const char* parent_env = std::getenv("WAYLAND_DISPLAY");
  std::string parent = parent_env != nullptr ? parent_env : "";
  CLI::App app{"zcpipe-compositor: a minimal Wayland compositor that scans client buffers out without copying them"};
  apps::setup(app, "zcpipe-compositor");
  // Empty: libwayland picks the first free wayland-0 .. wayland-32, as
  // Weston, sway and mutter do, so it never collides with a running session.
  std::string socket;
  std::string output_name = "auto";
  uint32_t refresh = 60;
  std::string size = "3840x2160";
  bool verify = false;
  std::string stats_path;
  int ready_fd = -1;
  bool verbose = false, quiet = false, no_ledger = false;
  uint64_t exit_after = 0;
  app.add_option("--socket", socket, "Socket name in $XDG_RUNTIME_DIR (default: the first free wayland-N; a client finds it as WAYLAND_DISPLAY)");
  output::OutputOptions oo;
  bool no_atomic = false;
  app.add_option("--output", output_name,
                 "auto (kms when a display can be driven, else headless, saying why) | headless | kms | "
                 "wayland (a fullscreen window on a parent compositor: a nested compositor, one more hop)")
      ->check(CLI::IsMember({"auto", "headless", "kms", "wayland"}))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // a launcher's default, overridden by a later --output
      ->capture_default_str();
  app.add_option("-D,--device", oo.device, "kms: DRM device node (default: the first card with a connected connector)");
  app.add_option("--mode", oo.mode, "kms: WIDTHxHEIGHT[@HZ] (default: the connector's preferred mode)");
  app.add_option("--parent", parent, "wayland: the parent compositor's socket name in $XDG_RUNTIME_DIR, or a path (default: $WAYLAND_DISPLAY at startup)");
  app.add_flag("--no-atomic", no_atomic, "kms: use legacy drmModeSetCrtc/drmModePageFlip instead of atomic commits");
  app.add_option("--refresh", refresh, "Headless refresh rate in Hz (0 = unpaced: present at once)")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--size", size, "Headless output size WIDTHxHEIGHT")->capture_default_str();
  app.add_flag("--verify", verify, "Checksum every presented frame (reads, never copies); default: off");
  app.add_option("--stats", stats_path, "Write the compositor's per-frame ledger as JSON to FILE at exit");
  app.add_option("--ready-fd", ready_fd, "Write 'ready' to this fd once the socket listens (for launchers)");
  uint64_t trace_frame = UINT64_MAX;
  app.add_option("--trace-frame", trace_frame, "Record every syscall and step of this frame into --stats (for zcpipe-demo --explain)");
  app.add_option("--exit-after-clients", exit_after, "Exit once N clients have connected and gone (0 = run until SIGTERM)");
  app.add_flag("--no-ledger", no_ledger, "Do not sample per-frame counters (to measure the ledger's own overhead)");
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  app.add_flag("-q,--quiet", quiet, "Errors only");
  std::vector<std::string> command;
  app.add_option("command", command,
                 "After --: a client to start with WAYLAND_DISPLAY set; the compositor exits when it does, with its exit status")
      ->type_name("COMMAND [ARGS...]");
  uint32_t width = 0, height = 0;
  if (int st = apps::parse(app, argc, argv, [&] {
        apps::parse_size(size, width, height);
        apps::check_output_path("--stats", stats_path);
      });
      st >= 0)
    return st;
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
  ledger->set_trace_frame(trace_frame);
  ledger->set_reason_names(output::reason_name, output::reason_sentence);
  auto server = server::Server::create(server::ServerConfig{socket, exit_after});
  if (!server) {
    log::error("{}", server.error().message());
    return 1;
  }
  // The server stops on SIGTERM and SIGINT; a closed terminal (SIGHUP) is
  // one more way to be asked to stop, not a crash: same clean exit.
  // Event sources are removed on every way out, early error returns too
  // (LeakSanitizer found those), before the server's event loop goes: they
  // are declared after `server`, so they are destroyed first.
  struct RemoveSource {
    void operator()(wl_event_source* s) const { wl_event_source_remove(s); }
  };
  using EventSource = std::unique_ptr<wl_event_source, RemoveSource>;
  EventSource sighup{wl_event_loop_add_signal((*server)->loop(), SIGHUP, &on_sighup, server->get())};
  oo.name = output_name;
  oo.width = width;
  oo.height = height;
  oo.refresh_hz = refresh;
  oo.verify = verify;
  oo.atomic = !no_atomic;
  // wayland: when the parent goes away, nothing we show reaches a screen any
  // more. Stop the way a signal stops us (clients disconnected, stats
  // written), say why in one line, and exit non-zero.
  bool parent_lost = false;
  oo.parent = parent;
  oo.parent_lost = [&parent_lost, srv = server->get()](const std::string& why) {
    log::error("{}: stopping, our clients are disconnected", why);
    parent_lost = true;
    srv->terminate();
  };
  if (oo.name == "wayland" && oo.parent.empty()) {
    log::error("--output wayland needs a parent compositor: set WAYLAND_DISPLAY or pass --parent NAME");
    return 1;
  }
  // auto: try KMS, and keep the reason it was not possible, so that
  // zcpipe-demo (which runs us --quiet) can say why it ran headless.
  std::string auto_reason;
  if (oo.name == "auto") oo.name = "kms";
  auto out = output::create_output((*server)->loop(), oo);
  if (!out && output_name == "auto") {
    auto_reason = out.error().message();
    log::info("output auto: headless, because kms is not possible: {}", auto_reason);
    oo.name = "headless";
    out = output::create_output((*server)->loop(), oo);
  }
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
  // What a client needs, in the form it needs it (clients look for
  // $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY).
  log::info("listening on WAYLAND_DISPLAY={} (in {}) — output {} {}x{} {}", (*server)->socket_name(),
            std::getenv("XDG_RUNTIME_DIR"), out_name, mode.width, mode.height,
            mode.refresh_mhz ? fmt::format("@{:.2f} Hz", mode.refresh_mhz / 1000.0) : std::string("unpaced"));
  if (ready_fd >= 0) {
    UniqueFd fd{ready_fd};
    if (::write(fd.get(), "ready\n", 6) != 6) log::warn("cannot write to --ready-fd {}", ready_fd);
  }
  // Counted after the ready fd is closed: from here on, every client that
  // comes and goes must leave this number unchanged.
  const int fds_at_start = count_open_fds();

  Command cmd;
  cmd.display = (*server)->display();
  EventSource sigchld;
  if (!command.empty()) {
    sigchld.reset(wl_event_loop_add_signal((*server)->loop(), SIGCHLD, &on_sigchld, &cmd));
    SpawnOptions so;
    so.argv = command;
    so.search_path = true;
    so.env["WAYLAND_DISPLAY"] = (*server)->socket_name();
    so.parent_death_signal = SIGTERM;  // a client never outlives its compositor
    auto child = Child::spawn(so);
    if (!child) {
      log::error("cannot start {}: {}", command[0], child.error().message());
      return 1;
    }
    cmd.child = std::move(child.value());
  }
  (*server)->run();

  // Stopped by a signal while the command runs: it goes first (SIGTERM, then
  // SIGKILL after 2 s), so its last requests are served and its fds closed.
  int command_status = 0;
  if (!command.empty()) {
    const ExitStatus e = cmd.child.terminate(2000);
    command_status = e.shell_status();
    log::info("{}: {}", command[0], e.describe());
  }
  sigchld.reset();
  ledger->end_frame();
  const auto scanout = (*server)->scanout_counters();  // after every client left, before shutdown frees the rest
  (*server)->shutdown();
  // After shutdown: destroying the clients releases their buffers and
  // closing the output removes its framebuffers, which the counters must
  // show (taken before, they missed the teardown: kms_fbs_live 3).
  const server::ServerCounters c = (*server)->counters();
  const int fds_at_end = count_open_fds();
  // After the count: its signalfd was open at fds_at_start too.
  sighup.reset();
  log::info("stopped: {} commits, {} presented ({} zero-copy), {} discarded, {} protocol errors, {} clients",
            c.commits, c.presented, c.zero_copy, c.discarded, c.protocol_errors, c.clients_connected);
  if (!stats_path.empty()) {
    nlohmann::json j;
    j["process"] = "compositor";
    j["output"] = out_name;
    if (out_name == "wayland") {
      j["parent"] = parent;
      j["parent_lost"] = parent_lost;
    }
    j["output_description"] = (*server)->output().description();
    if (!auto_reason.empty()) j["output_auto_reason"] = auto_reason;
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
                     {"clients_disconnected", c.clients_disconnected},
                     {"surface_feedback_resent", c.surface_feedback_resent}};
    j["fds_at_start"] = fds_at_start;
    j["fds_at_end"] = fds_at_end;
    j["scanout"] = nlohmann::json::object();
    for (const auto& [k, v] : scanout) j["scanout"][k] = v;
    j["output_counters"] = nlohmann::json::object();
    for (const auto& [k, v] : (*server)->output().counters()) j["output_counters"][k] = v;
    if (!no_ledger) j["ledger"] = stats::to_json(*ledger);
    std::ofstream f(stats_path);
    f << j.dump() << '\n';
    if (!f) {
      log::error("cannot write {}", stats_path);
      return 1;
    }
  }
  if (parent_lost && command_status == 0) return 1;
  return command_status;
}
