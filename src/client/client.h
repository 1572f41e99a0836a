// zcpipe-client: renders frames into a ring of buffers and hands each to the
// compositor (by file descriptor with linux-dmabuf, or by the copying
// transports), paced by frame callbacks.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "buffer/allocator.h"
#include "client/renderer.h"
#include "common/result.h"
#include "stats/ledger.h"
#include "transport/transport.h"

namespace zc::client {

// How the frame reaches the compositor (transport/transport.h).
using Transport = transport::Kind;
inline const char* transport_name(Transport t) { return transport::kind_name(t); }

struct ClientConfig {
  Transport transport = Transport::dmabuf;
  uint32_t chunk = 64 * 1024;  // socket transport: bytes per write()
  std::string socket;  // empty: $WAYLAND_DISPLAY
  uint32_t width = 3840;
  uint32_t height = 2160;
  uint32_t format = 0;  // DRM fourcc; 0 = XRGB8888
  uint64_t frames = 300;
  uint32_t buffers = 3;
  uint32_t warmup = 3;  // frames excluded from summaries (pages faulting in)
  buffer::AllocatorRequest allocator;
  Render render = Render::full;
  RendererChoice renderer = RendererChoice::cpu;  // --renderer: who draws (client/renderer.h)
  bool checksum = true;  // checksum each rendered frame (to compare with the display)
  int timeout_ms = 10000;  // longest wait for the compositor
  bool progress = false;   // live progress line on stderr
  // The overwrite experiment (buffer/overwrite_marker.h): after the display
  // has shown frame N, write a marker into frame N's own buffer while it is
  // still on screen, so the compositor's --verify can tell whether the
  // display reads this memory (zero-copy) or a copy of it.
  bool overwrite_proof = false;
  // Per-surface dmabuf feedback (v4): when the compositor sends it again and
  // its scanout tranche lacks the ring's (format, modifier), the client
  // reallocates its ring with a pair from that tranche it can draw. Without
  // this flag only the modifier may change (the format stays what --format
  // asked); with it (--follow-feedback) the format may change too, e.g.
  // ARGB8888 -> XRGB8888 for a primary plane without alpha.
  bool follow_feedback = false;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> create(const ClientConfig& config, stats::FrameLedger* ledger);
  ~Client();
  // Runs all frames; returns an error if the compositor went away or stalled.
  Result<void> run();
  // Run facts and per-frame results (merged into the ledger's frames).
  nlohmann::json report() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zc::client
