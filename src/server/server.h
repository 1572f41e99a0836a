// The Wayland server: the globals a client needs to put a buffer on screen.
//
//   wl_compositor  surfaces, damage, frame callbacks
//   xdg_wm_base    toplevel windows, shown fullscreen after configure/ack
//   zwp_linux_dmabuf_v1  buffers made of dma-buf fds (v4 feedback names the device)
//   wp_presentation      when and how each frame reached the screen
//   wl_output            the display's size and refresh
#pragma once

#include <wayland-server-core.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "output/output.h"
#include "stats/ledger.h"

namespace zc::server {

struct ServerConfig {
  std::string socket_name;  // empty = wl_display_add_socket_auto
  uint64_t exit_after_clients = 0;  // stop once this many clients came and went (0 = never)
};

struct ServerCounters {
  uint64_t commits = 0;          // commits that attached a new buffer
  uint64_t presented = 0;
  uint64_t discarded = 0;
  uint64_t zero_copy = 0;
  uint64_t released = 0;
  uint64_t buffers_imported = 0;
  uint64_t import_failures = 0;
  uint64_t protocol_errors = 0;
  uint64_t clients_connected = 0;
  uint64_t clients_disconnected = 0;
  // linux-dmabuf per-surface feedback sent again because the surface's
  // frames were copied for a reason another buffer would fix.
  uint64_t surface_feedback_resent = 0;
};

class Server {
 public:
  // Creates the display and its socket; `output` is created by the caller on
  // this server's event loop (see loop()).
  static Result<std::unique_ptr<Server>> create(const ServerConfig& config);
  ~Server();

  wl_event_loop* loop() const;
  wl_display* display() const;
  const std::string& socket_name() const;

  // Adds the globals; call once the output exists.
  Result<void> start(std::unique_ptr<output::Output> output, stats::FrameLedger* ledger);
  void run();       // until terminate()
  void terminate();
  // Disconnects every client and frees compositor-owned buffers, so that the
  // open descriptors left are the compositor's own (the leak check), then
  // gives the display up (Output::close: on KMS the flip in flight lands and
  // every framebuffer is removed). output().counters() read after it cover
  // the whole run, teardown included.
  void shutdown();

  const ServerCounters& counters() const;
  // The scanout planner's numbers (buffers, bytes, peak_bytes, refusals...)
  // for the --stats JSON; read them before shutdown().
  std::vector<std::pair<const char*, uint64_t>> scanout_counters() const;
  output::Output& output();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zc::server
