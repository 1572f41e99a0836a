// Shared state of the server's protocol implementations (not a public header).
#pragma once

#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include <array>
#include <memory>
#include <unordered_map>
#include <vector>

#include "buffer/buffer.h"
#include "buffer/scanout_planner.h"
#include "common/unique_fd.h"
#include "output/output.h"
#include "server/resource_list.h"
#include "server/resource_ref.h"
#include "server/server.h"
#include "stats/ledger.h"

namespace zc::server {

struct Surface;
struct SocketStream;

// User data of a wl_buffer created through linux-dmabuf.
struct ClientBuffer {
  wl_resource* resource = nullptr;
  std::shared_ptr<buffer::Buffer> storage;
  uint32_t busy = 0;  // commits of this buffer the output still holds
};

// A committed buffer handed to the output, until the output releases it.
struct InFlight {
  Surface* surface = nullptr;
  ResourceRef buffer;      // the wl_buffer (null once destroyed)
  ResourceList feedbacks;  // wp_presentation_feedback objects
  uint64_t ledger_frame = 0;
  // The compositor-owned copy (shm, socket) the display reads; ending this
  // lease (when the output reports the frame released or discarded, i.e.
  // when this InFlight is erased) gives the buffer back to the planner.
  buffer::ScanoutLease scanout;

  // Back to empty, in place (a ResourceList's head cannot move).
  void clear() {
    surface = nullptr;
    buffer.reset();
    feedbacks.clear();
    ledger_frame = 0;
    scanout.reset();
  }
};

// The frames handed to the output and not yet released, in a fixed array
// searched by tag: the output holds only a few at once (on screen, flip
// pending, queued), so a short scan beats a hash map, which would allocate
// and free a node for every commit. Iteration visits the live entries only.
class InFlightRing {
 public:
  static constexpr size_t kSlots = 16;
  struct Entry {
    uint64_t first = 0;  // the tag; 0: a free slot (tags start at 1)
    InFlight second;
  };
  class iterator {
   public:
    iterator(Entry* p, Entry* end) : p_(p), end_(end) { skip(); }
    Entry& operator*() const { return *p_; }
    Entry* operator->() const { return p_; }
    iterator& operator++() {
      ++p_;
      skip();
      return *this;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }
    bool operator!=(const iterator& o) const { return p_ != o.p_; }

   private:
    void skip() {
      while (p_ != end_ && p_->first == 0) ++p_;
    }
    Entry* p_;
    Entry* end_;
  };
  iterator begin() { return {slots_.data(), slots_.data() + kSlots}; }
  iterator end() { return {slots_.data() + kSlots, slots_.data() + kSlots}; }
  iterator find(uint64_t tag) {
    for (Entry& e : slots_)
      if (e.first == tag && tag != 0) return {&e, slots_.data() + kSlots};
    return end();
  }
  // A free slot for `tag`, or end() when all kSlots are in flight.
  iterator insert(uint64_t tag) {
    for (Entry& e : slots_)
      if (e.first == 0) {
        e.first = tag;
        return {&e, slots_.data() + kSlots};
      }
    return end();
  }
  void erase(iterator it) {
    it->first = 0;
    it->second.clear();
  }

 private:
  std::array<Entry, kSlots> slots_{};
};

struct Surface {
  Server::Impl* server = nullptr;
  wl_resource* resource = nullptr;
  // Pending (double-buffered) state, applied by wl_surface.commit.
  ResourceRef pending_buffer;
  bool pending_attach = false;
  // Frame callbacks and presentation feedbacks are intrusive lists
  // (resource_list.h): a commit moves them on without allocating.
  ResourceList pending_frames;
  ResourceList pending_feedbacks;
  // Committed frame callbacks, sent at the next vblank.
  ResourceList frames;
  // xdg-shell role
  wl_resource* xdg_surface = nullptr;
  wl_resource* toplevel = nullptr;
  uint32_t configure_serial = 0;
  bool acked = false;
  bool mapped = false;
  // The buffer this surface last committed, when not handed to the output
  // (an occluded surface): released when the next one arrives.
  ResourceRef held_buffer;
  uint64_t commits = 0;
  // Whether the last commit that attached left a buffer on the surface
  // (attach(NULL) + commit clears it). xdg-shell refuses an xdg_surface for a
  // surface "which has a buffer attached or committed": this, or a pending
  // non-null attach. Not `commits > 0`: a surface may commit without a
  // buffer, or detach the one it had, and is then free to take the role.
  bool has_buffer = false;
  SocketStream* stream = nullptr;  // the socket baseline's data stream, if any
  bool warned_drop = false;        // a dropped frame of this surface was logged
  // linux-dmabuf v4 feedback objects made by get_surface_feedback for this
  // surface (an intrusive list: a feedback destroyed first leaves it; when
  // the surface dies first the list's destructor unlinks them all and they
  // stay inert, as the protocol allows).
  ResourceList dmabuf_feedbacks;
  // The feedback-fixable copy reasons (output::ScanoutReasons bits) this
  // surface's feedback was last re-sent for: a resend happens when they
  // change, never once per copied frame.
  uint32_t feedback_reasons = 0;
};

// What a commit shows, whatever the transport.
struct CommitContent {
  enum class Kind { none, dmabuf, shm, socket } kind = Kind::none;
  wl_resource* buffer = nullptr;  // dmabuf or shm wl_buffer
  const uint8_t* pixels = nullptr;  // socket: the staging buffer
  uint32_t width = 0, height = 0, stride = 0, format = 0;
  uint64_t ledger_frame = UINT64_MAX;  // socket: the frame window opened by its header
};

struct Server::Impl {
  ServerConfig config;
  wl_display* display = nullptr;
  std::string socket;
  std::unique_ptr<output::Output> out;
  stats::FrameLedger* ledger = nullptr;
  ServerCounters counters;
  struct ClientCreated {
    wl_listener listener;
    Impl* impl;
  } client_created{};
  wl_event_source* sigterm = nullptr;
  wl_event_source* sigint = nullptr;

  std::vector<Surface*> stack;  // mapped toplevels, top last
  InFlightRing inflight;
  uint64_t next_tag = 1;
  uint64_t commit_seq = 0;
  std::vector<wl_resource*> output_resources;  // bound wl_output objects
  UniqueFd format_table;                       // linux-dmabuf v4 format table (sealed memfd)
  uint32_t format_table_size = 0;
  // What linux-dmabuf accepts (the output shows them, maybe by copying),
  // and the subset the display scans out as it is.
  std::vector<std::pair<uint32_t, uint64_t>> formats;
  std::vector<std::pair<uint32_t, uint64_t>> scanout_formats;

  ~Impl();
  Surface* top() const { return stack.empty() ? nullptr : stack.back(); }

  // Protocol pieces (one file each).
  Result<void> init_compositor();
  Result<void> init_xdg_shell();
  Result<void> init_linux_dmabuf();
  Result<void> init_presentation_and_output();
  Result<void> init_shm();
  // wl_shm pool sizes and buffer offsets, recorded from the requests (shm_pools.cpp).
  Result<void> init_shm_tracking();
  // The logger init_shm_tracking() adds; wl_display_destroy does not free
  // loggers (libwayland 1.21), so ~Impl destroys it first.
  wl_protocol_logger* shm_logger = nullptr;
  // Whether a wl_shm buffer lies inside its pool; posts the wl_shm error if not.
  bool check_shm_buffer(wl_resource* buffer);
  Result<void> init_socket_baseline();

  // Called from wl_surface.commit.
  void commit(Surface& s);
  // Applies a commit whose content is known (called directly, or later for a
  // deferred socket commit once its bytes arrived).
  // Takes every entry of `frames` and `feedbacks`.
  void apply_commit(Surface& s, const CommitContent& c, ResourceList& frames, ResourceList& feedbacks);
  uint64_t open_ledger_frame();
  void present_copy(Surface& s, const CommitContent& c, uint64_t frame, ResourceList& feedbacks);
  // Drops a frame that will never reach the display: its wp_presentation
  // feedbacks get `discarded`, and it is counted.
  void drop_frame(Surface& s, uint64_t frame, ResourceList& feedbacks, const std::string& why);
  // The one owner of compositor scanout buffers (see buffer/scanout_planner.h),
  // borrowed from the output: its own copy fallback leases from it too.
  buffer::ScanoutPlanner* scanout = nullptr;
  void surface_destroyed(Surface& s);
  void unmap(Surface& s);
  // Output callbacks.
  void on_presented(uint64_t tag, const output::Presented& p);
  void on_discarded(uint64_t tag);
  void on_released(uint64_t tag);
  void on_vblank(uint64_t time_ns);
  void on_output_copied(uint64_t tag, uint64_t bytes, const char* where);
  void release_buffer(wl_resource* buffer);

  void post_error(wl_resource* r, uint32_t code, const std::string& msg);
};

// Buffer lookups implemented by linux_dmabuf.cpp.
ClientBuffer* client_buffer_from_resource(wl_resource* r);
// Per-surface dmabuf feedback (linux_dmabuf.cpp): the output showed a frame
// of `s`'s dma-buf with these copy reasons (empty: scanned out directly).
// Re-sends the surface's feedback when the reasons are ones another buffer
// would fix, once per change.
void surface_feedback_learned(Server::Impl& server, Surface& s, const output::ScanoutReasons& reasons);
// The decision alone: whether a frame copied (or not) for `reasons` calls for
// a resend, given `last`, the fixable reasons of the previous resend (updated).
bool feedback_resend_needed(uint32_t& last, const output::ScanoutReasons& reasons);
// Presentation feedback (presentation.cpp); each sends its event and destroys fb.
void send_feedback_presented(Server::Impl& s, wl_resource* fb, const output::Presented& p);
void send_feedback_discarded(wl_resource* fb);
// Every feedback in `l` told `discarded` (and destroyed).
inline void discard_feedbacks(ResourceList& l) { l.drain(&send_feedback_discarded); }
// xdg-shell: whether a commit may attach a buffer (xdg_shell.cpp); posts the error otherwise.
bool xdg_check_commit(Surface& s, bool attaching);
// Socket baseline (socket_stream.cpp): whether the surface's stream has an
// attach_frame pending; takes it and fills `c`, or defers the commit.
enum class StreamCommit { none, ready, deferred, failed };
bool stream_attach_pending(const SocketStream& st);
StreamCommit stream_take_commit(Surface& s, CommitContent& c, ResourceList& frames, ResourceList& feedbacks);
void stream_frame_consumed(SocketStream& st);
void stream_surface_destroyed(SocketStream& st);
// wl_shm helpers (server.cpp)
uint32_t shm_to_drm_format(uint32_t shm_format);
Surface* surface_from_resource(wl_resource* r);

}  // namespace zc::server
