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
#include "output/headless.h"
#include "server/server.h"
#include "stats/ledger.h"

namespace {

// The first DRM device's render node, if the machine has one: advertised in
// linux-dmabuf feedback so clients allocate on it.
std::optional<dev_t> find_drm_device() {
  drmDevicePtr devs[8] = {};
  const int n = drmGetDevices2(0, devs, 8);
  std::optional<dev_t> found;
  for (int i = 0; i < n && !found; ++i) {
    for (int node : {DRM_NODE_RENDER, DRM_NODE_PRIMARY}) {
      if ((devs[i]->available_nodes & (1 << node)) == 0) continue;
      struct stat st {};
      if (::stat(devs[i]->nodes[node], &st) == 0) {
        found = st.st_rdev;
        break;
      }
    }
  }
  if (n > 0) drmFreeDevices(devs, n);
  return found;
}

}  // namespace

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
  app.add_option("--output", output_name, "auto | headless")->check(CLI::IsMember({"auto", "headless"}))->capture_default_str();
  app.add_option("--refresh", refresh, "Headless refresh rate in Hz (0 = unpaced: present at once)")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--size", size, "Headless output size WIDTHxHEIGHT")->capture_default_str();
  app.add_flag("--verify", verify, "Checksum every presented frame (reads, never copies)");
  app.add_option("--stats", stats_path, "Write the compositor's per-frame ledger as JSON to FILE at exit");
  app.add_option("--ready-fd", ready_fd, "Write 'ready' to this fd once the socket listens (for launchers)");
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
  ledger->reserve(100000);
  auto server = server::Server::create(server::ServerConfig{socket, verify, exit_after});
  if (!server) {
    log::error("{}", server.error().message());
    return 1;
  }
  output::HeadlessConfig hc;
  hc.width = width;
  hc.height = height;
  hc.refresh_hz = refresh;
  hc.verify = verify;
  hc.device = find_drm_device();
  auto out = output::create_headless((*server)->loop(), hc);
  if (!out) {
    log::error("cannot create the headless output: {}", out.error().message());
    return 1;
  }
  if (auto r = (*server)->start(std::move(out.value()), no_ledger ? nullptr : &ledger.value()); !r) {
    log::error("{}", r.error().message());
    return 1;
  }
  const int fds_at_start = count_open_fds();
  log::info("listening on {}/{} — output headless {}x{} {}", std::getenv("XDG_RUNTIME_DIR"),
            (*server)->socket_name(), width, height,
            refresh ? fmt::format("@{} Hz", refresh) : std::string("unpaced"));
  if (ready_fd >= 0) {
    UniqueFd fd{ready_fd};
    if (::write(fd.get(), "ready\n", 6) != 6) log::warn("cannot write to --ready-fd {}", ready_fd);
  }
  (*server)->run();

  ledger->end_frame();
  const auto& c = (*server)->counters();
  log::info("stopped: {} commits, {} presented ({} zero-copy), {} discarded, {} protocol errors, {} clients",
            c.commits, c.presented, c.zero_copy, c.discarded, c.protocol_errors, c.clients_connected);
  if (!stats_path.empty()) {
    nlohmann::json j;
    j["process"] = "compositor";
    j["output"] = "headless";
    j["mode"] = {{"width", width}, {"height", height}, {"refresh_hz", refresh}};
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
    j["fds_at_end"] = count_open_fds();
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
