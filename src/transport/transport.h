// The client side of a transport: how a rendered frame reaches the
// compositor. Three implementations, one interface:
//
//   dmabuf  the buffer itself is shared: its fd crossed once, when the
//           wl_buffer was made (linux-dmabuf); a frame is a 4-byte object id
//   shm     the same ring in wl_shm shared memory; the compositor copies it
//   socket  one private buffer; every frame's pixels go through a UNIX socket
//
// Each transport allocates its ring, submits a frame, and learns when the
// compositor is done with a buffer. None of them knows how the pixels were
// drawn: that is the renderer's business (client/renderer.h). The main loop
// (client/client.cpp) only ever talks to this interface.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "buffer/allocator.h"
#include "buffer/buffer.h"
#include "common/result.h"

struct wl_buffer;
struct wl_display;
struct wl_registry;
struct wl_surface;

namespace zc::stats {
class FrameLedger;
}

namespace zc::transport {

enum class Kind {
  dmabuf,  // a file descriptor to the buffer (linux-dmabuf): 0 CPU copies
  shm,     // wl_shm shared memory: the compositor copies it (1 CPU copy)
  socket,  // pixels written through a UNIX socket in chunks (3 CPU copies)
};
const char* kind_name(Kind k);  // "dmabuf", "shm", "socket"

// A global the compositor announced in wl_registry: the name to bind it by
// and the highest version it speaks.
struct Global {
  uint32_t name = 0;
  uint32_t version = 0;
};
using Globals = std::map<std::string, Global, std::less<>>;  // by interface name

// What a transport borrows from the client's Wayland connection.
struct Connection {
  wl_display* display = nullptr;
  wl_registry* registry = nullptr;
  const Globals* globals = nullptr;
  // Reads and dispatches events, or fails after the client's timeout with an
  // error naming `waiting_for`.
  std::function<Result<void>(const char* waiting_for)> dispatch;
};

struct RingConfig {
  uint32_t width = 0, height = 0;
  uint32_t format = 0;  // DRM fourcc
  uint32_t buffers = 3;
  uint32_t chunk = 0;  // socket: bytes per write()
  buffer::AllocatorRequest allocator;  // dmabuf: the user's --allocator / --device
};

// The renderer's half of the modifier choice: given the modifiers the
// compositor accepts for the format (one feedback tranche), the ones it can
// draw into (empty: no explicit modifier, the implicit layout), or an error
// saying why none will do.
using ModifierChoice = std::function<Result<std::vector<uint64_t>>(const std::vector<uint64_t>& accepted)>;

// One linux-dmabuf feedback tranche: (format, modifier) pairs and its flags.
// Version 3 (no feedback) is one tranche of every modifier event.
struct Tranche {
  std::vector<std::pair<uint32_t, uint64_t>> pairs;
  bool scanout = false;  // ZWP_LINUX_DMABUF_FEEDBACK_V1_TRANCHE_FLAGS_SCANOUT
};

// One buffer of the ring, as the main loop holds it between acquire() and submit().
struct Slot {
  std::unique_ptr<buffer::Buffer> buffer;
  wl_buffer* wl = nullptr;  // dmabuf, shm: the compositor's name for the buffer
  bool busy = false;        // the compositor may read it: do not draw until released
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual Kind kind() const = 0;

  // Allocates the ring once the surface exists; the dmabuf transport asks
  // `choose` which modifiers to allocate with.
  virtual Result<void> allocate_ring(wl_surface* surface, const ModifierChoice& choose) = 0;

  // A buffer the compositor is not reading, or nullptr: all are held, so
  // dispatch events until a release arrives and ask again.
  virtual Slot* acquire() = 0;

  // Hands the frame drawn into `slot` (numbered `frame`) to the compositor:
  // the next wl_surface.commit shows it. From here until its release the
  // slot is busy.
  virtual Result<void> submit(Slot& slot, uint64_t frame) = 0;

  // For the run's report.
  virtual const buffer::Allocator& allocator() const = 0;
  virtual std::string allocator_description() const { return allocator().description(); }
  virtual const buffer::Buffer* first_buffer() const = 0;  // nullptr before allocate_ring()
  // dmabuf with feedback (v4): whether the modifiers came from the display's
  // scanout tranche (a buffer the display can show without a copy).
  virtual std::optional<bool> scanout_tranche() const { return std::nullopt; }

  // Per-surface feedback (dmabuf v4): true when the compositor sent the
  // surface's feedback again since the last take_feedback() (it does when
  // it had to copy our frames for a reason another buffer would fix).
  virtual bool feedback_pending() const { return false; }
  // The newest feedback's tranches; clears feedback_pending().
  virtual std::vector<Tranche> take_feedback() { return {}; }
  // Feedback batches received for the surface (the first one included).
  virtual uint64_t feedback_received() const { return 0; }
  // Replaces the whole ring with buffers of `format`, between frames: the
  // old wl_buffers are destroyed (one still on screen stays alive in the
  // compositor, which holds its own fds, until the next flip replaces it)
  // and the new ones allocated as allocate_ring() does.
  virtual Result<void> reallocate_ring(uint32_t format, const ModifierChoice& choose) {
    (void)format;
    (void)choose;
    return Error{ENOTSUP, "this transport has no ring to reallocate"};
  }
};

// Binds the transport's global and learns what it needs before the ring is
// allocated (dmabuf: the feedback's device and formats). An error names the
// global the compositor lacks.
Result<std::unique_ptr<Transport>> create(Kind kind, const Connection& conn, const RingConfig& config,
                                          stats::FrameLedger* ledger);

// The zwp_linux_dmabuf_v1 version a client binds from these globals: 4
// (feedback) at most, 0 when the compositor offers less than 3 (no modifiers).
uint32_t dmabuf_version(const Globals& globals);

// ------------------------------------------------- the dmabuf modifier choice
struct ModifierPick {
  std::vector<uint64_t> modifiers;  // what to allocate with (empty: implicit)
  bool scanout = false;             // from a scanout tranche
};
// Tranches come in falling order of preference: the first that offers
// `format` with a modifier `choose` accepts decides. ENOTSUP when none offers
// the format, or (with `choose`'s reason) when none offers a usable modifier.
Result<ModifierPick> pick_modifiers(const std::vector<Tranche>& tranches, uint32_t format,
                                    const ModifierChoice& choose);

// ---------------------------------------------- following per-surface feedback
// What a client with a ring of (format, modifier) buffers should reallocate
// with after a new feedback, or nullopt to keep its ring: when a scanout
// tranche already holds its pair, when there is no scanout tranche, or when
// nothing in one is something it can draw.
//
// Scanout tranches are read in order (the compositor's preference). The
// ring's own format comes first with another modifier `choose` accepts (a
// CPU renderer: LINEAR only); another format only when `may_switch_format`
// (zcpipe-client --follow-feedback) and zcpipe's pattern can draw it
// (common/format.h knows it). ARGB8888 -> XRGB8888 is the usual case: a
// primary plane without alpha.
struct ScanoutSwitch {
  uint32_t format = 0;
  std::vector<uint64_t> modifiers;  // as choose() answered (empty: implicit layout)
};
std::optional<ScanoutSwitch> scanout_switch(const std::vector<Tranche>& tranches, uint32_t format, uint64_t modifier,
                                            bool may_switch_format, const ModifierChoice& choose);

}  // namespace zc::transport
