// The socket baseline, compositor side (protocol/zcpipe-socket-v1.xml).
//
// Pixels arrive through a UNIX stream socket. The compositor reads them with
// non-blocking read() calls of at most chunk_size bytes into a staging
// buffer (the kernel copies them out of the socket buffer: CPU copy #2;
// the client's write() was #1), and on commit copies the staging buffer
// into a scanout buffer (#3). While a complete frame waits in staging for
// its commit, the compositor stops reading: the socket buffer fills and the
// client's write() blocks. That is the backpressure that paces a client
// which sends faster than frames are shown, without dropping anything.
#include <fmt/core.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/format.h"
#include "common/log.h"
#include "server/internal.h"
#include "stats/trace.h"
#include "wire/socket_wire.h"
#include "zcpipe-socket-v1-server-protocol.h"

namespace zc::server {

struct SocketStream {
  Server::Impl* server = nullptr;
  wl_resource* resource = nullptr;
  Surface* surface = nullptr;
  UniqueFd fd;
  wl_event_source* source = nullptr;
  wl_event_source* stall_timer = nullptr;
  uint32_t chunk = wire::kDefaultChunk;
  bool failed = false;

  // Reading state of the frame on the wire.
  uint8_t header_bytes[wire::kSocketHeaderBytes] = {};
  size_t header_got = 0;
  bool have_header = false;
  wire::SocketFrameHeader header;
  uint64_t body_got = 0;
  uint64_t progress_at_last_check = 0;
  uint32_t idle_checks = 0;  // stall checks in a row that saw no new byte
  bool complete = false;  // a whole frame waits in staging for its commit
  uint64_t ledger_frame = 0;

  // Staging memory: mapped when the first frame (or a larger one) arrives,
  // never per frame.
  uint8_t* staging = nullptr;
  size_t staging_size = 0;

  // attach_frame(seq) waiting for the next wl_surface.commit, and a commit
  // deferred until its frame's bytes are all here.
  std::optional<uint64_t> pending_attach;
  std::optional<uint64_t> deferred;  // the deferred commit's attach_frame sequence
  ResourceList deferred_frames, deferred_feedbacks;

  ~SocketStream() {
    drop_deferred();
    if (source != nullptr) wl_event_source_remove(source);
    if (stall_timer != nullptr) wl_event_source_remove(stall_timer);
    if (staging != nullptr) ::munmap(staging, staging_size);
    if (surface != nullptr) surface->stream = nullptr;
  }

  // A commit still waiting for its bytes will never be shown: its feedback
  // must say so (presentation-time requires `discarded`).
  void drop_deferred() {
    if (!deferred) return;
    discard_feedbacks(deferred_feedbacks);
    deferred_frames.clear();
    deferred.reset();
  }

  // attach_frame carries 32 bits; the header's sequence is 64: compare the low 32.
  static bool same_seq(uint64_t header_seq, uint64_t attached) {
    return static_cast<uint32_t>(header_seq) == static_cast<uint32_t>(attached);
  }

  void fail(uint32_t code, const std::string& msg) {
    if (failed) return;
    failed = true;
    // The deferred commit's feedback objects die with the client.
    server->post_error(resource, code, msg);
    // Nothing more will be read from this socket, so stop being its sink:
    // close our end. A client blocked in write() (its end blocks) then gets
    // EPIPE at once; kept open, it would hang on a buffer nobody drains
    // until libwayland gets round to destroying the client. (The event
    // source holds its own duplicate of the fd: removing it closes that.)
    if (source != nullptr) wl_event_source_remove(source);
    source = nullptr;
    if (stall_timer != nullptr) wl_event_source_timer_update(stall_timer, 0);
    fd.reset();
  }

  void set_reading(bool on) {
    if (source != nullptr) wl_event_source_fd_update(source, on ? WL_EVENT_READABLE : 0);
  }

  bool ensure_staging(uint64_t bytes) {
    if (bytes <= staging_size) return true;
    if (staging != nullptr) ::munmap(staging, staging_size);
    staging_size = static_cast<size_t>(bytes);
    void* p = ::mmap(nullptr, staging_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      staging = nullptr;
      staging_size = 0;
      return false;
    }
    staging = static_cast<uint8_t*>(p);
    return true;
  }

  void frame_complete() {
    ZC_TRACE(fmt::format("frame {} complete in the staging buffer after non-blocking read()s of at most {} bytes (CPU copy 2 of 3, by the kernel); reading pauses until it is shown",
                         header.seq, chunk),
             header.byte_count);
    complete = true;
    set_reading(false);  // backpressure: nothing more is read until this frame is shown
    wl_event_source_timer_update(stall_timer, 0);
    if (server->ledger != nullptr)
      server->ledger->copy(header.byte_count, "read(): socket buffer -> staging buffer (kernel copy)");
    if (deferred && surface != nullptr) {
      if (!same_seq(header.seq, *deferred)) {
        fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SEQUENCE,
             fmt::format("attach_frame({}) but the socket delivered frame {}", *deferred, header.seq));
        return;
      }
      deferred.reset();
      ResourceList frames, feedbacks;
      frames.take_all(deferred_frames);
      feedbacks.take_all(deferred_feedbacks);
      server->apply_commit(*surface, content(), frames, feedbacks);
    }
  }

  CommitContent content() const {
    CommitContent c;
    c.kind = CommitContent::Kind::socket;
    c.pixels = staging;
    c.width = header.width;
    c.height = header.height;
    c.stride = header.stride;
    c.format = header.format;
    c.ledger_frame = ledger_frame;
    return c;
  }

  // Reads what the socket has, never blocking the event loop.
  void on_readable() {
    while (!complete && !failed) {
      ssize_t n;
      if (!have_header) {
        n = ::read(fd.get(), header_bytes + header_got, sizeof header_bytes - header_got);
      } else {
        const uint64_t left = header.byte_count - body_got;
        n = ::read(fd.get(), staging + body_got, static_cast<size_t>(std::min<uint64_t>(chunk, left)));
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED, fmt::format("data socket read failed: {}", std::strerror(errno)));
        return;
      }
      if (n == 0) {
        if (have_header || header_got > 0)
          fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED,
               fmt::format("data socket closed after {} of {} bytes of frame {}", body_got,
                           have_header ? header.byte_count : 0, have_header ? header.seq : 0));
        else
          set_reading(false);  // the client closed its end between frames
        return;
      }
      if (!have_header) {
        // A frame starts with its first header byte: from then on a stall is an error.
        if (header_got == 0) {
          progress_at_last_check = 0;
          idle_checks = 0;
          wl_event_source_timer_update(stall_timer, kStallCheckMs);
        }
        header_got += static_cast<size_t>(n);
        if (header_got < sizeof header_bytes) continue;
        header = wire::decode_header(header_bytes);
        if (auto err = wire::validate_header(header)) {
          fail(err->code, err->message);
          return;
        }
        // The staging buffer is sized by the header, so a header alone could
        // make the compositor map up to wire::kMaxFrameBytes (1 GiB). Nothing
        // bigger than a scanout buffer can be shown anyway (the planner would
        // refuse it after every byte was read): refuse it here, before any
        // memory is mapped.
        if (header.byte_count > buffer::kMaxScanoutBufferBytes) {
          fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE,
               fmt::format("frame {} of {}x{} is {} bytes, more than the largest scanout buffer ({} bytes)",
                           header.seq, header.width, header.height, header.byte_count,
                           buffer::kMaxScanoutBufferBytes));
          return;
        }
        if (!ensure_staging(header.byte_count)) {
          fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE,
               fmt::format("cannot stage a frame of {} bytes", header.byte_count));
          return;
        }
        have_header = true;
        body_got = 0;
        // The frame's window in the ledger opens with its first byte.
        ledger_frame = server->open_ledger_frame();
        if (header.byte_count == 0) frame_complete();
      } else {
        body_got += static_cast<uint64_t>(n);
        if (body_got == header.byte_count) frame_complete();
      }
    }
  }

  // A client that stops writing mid-frame: the frame can never be shown.
  // The check runs every kStallCheckMs while a frame is on the wire and
  // fails it after kStallMs without a new byte, so a stall is caught between
  // 3.0 and 3.5 s after the last byte. (One 3 s timer re-armed on progress
  // would catch a stall that began just after an arming only ~6 s later; a
  // timestamp per read() would cost a clock read per 64 KiB chunk.)
  static constexpr int kStallMs = 3000;
  static constexpr int kStallCheckMs = 500;
  static_assert(kStallMs % kStallCheckMs == 0);

  uint64_t progress() const { return header_got + body_got; }

  void on_stall_check() {
    if (complete || failed) return;
    if (!have_header && header_got == 0) return;  // between frames: nothing is owed
    if (progress() != progress_at_last_check) {
      progress_at_last_check = progress();
      idle_checks = 0;
    } else if (++idle_checks * kStallCheckMs >= kStallMs) {
      if (!have_header)
        fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED,
             fmt::format("frame header stalled: {} of {} bytes arrived, none in the last {} ms", header_got,
                         wire::kSocketHeaderBytes, kStallMs));
      else
        fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED,
             fmt::format("frame {} stalled: {} of {} bytes arrived, none in the last {} ms", header.seq, body_got,
                         header.byte_count, kStallMs));
      return;
    }
    wl_event_source_timer_update(stall_timer, kStallCheckMs);
  }
};

namespace {

int stream_readable(int, uint32_t, void* data) {
  static_cast<SocketStream*>(data)->on_readable();
  return 0;
}
int stream_stall(void* data) {
  static_cast<SocketStream*>(data)->on_stall_check();
  return 0;
}

void destroy_res(wl_client*, wl_resource* r) { wl_resource_destroy(r); }

SocketStream* stream_of(wl_resource* r) { return static_cast<SocketStream*>(wl_resource_get_user_data(r)); }

void stream_attach_frame(wl_client*, wl_resource* r, uint32_t seq) { stream_of(r)->pending_attach = seq; }

const struct zcpipe_socket_stream_v1_interface kStreamImpl = {destroy_res, stream_attach_frame};

void stream_destroyed(wl_resource* r) { delete stream_of(r); }

void manager_get_stream(wl_client* client, wl_resource* r, uint32_t id, wl_resource* surface_res, uint32_t chunk) {
  auto* server = static_cast<Server::Impl*>(wl_resource_get_user_data(r));
  Surface* surface = surface_from_resource(surface_res);
  if (chunk < wire::kMinChunk || chunk > wire::kMaxChunk) {
    server->post_error(r, ZCPIPE_SOCKET_MANAGER_V1_ERROR_BAD_CHUNK_SIZE,
                       fmt::format("chunk_size {} out of range {}..{}", chunk, wire::kMinChunk, wire::kMaxChunk));
    return;
  }
  if (surface->stream != nullptr) {
    server->post_error(r, ZCPIPE_SOCKET_MANAGER_V1_ERROR_ALREADY_STREAMING,
                       fmt::format("wl_surface@{} already has a stream", wl_resource_get_id(surface_res)));
    return;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
    wl_client_post_no_memory(client);
    return;
  }
  UniqueFd mine{sv[0]}, theirs{sv[1]};
  // The client's end must block: its write() waiting for room in the socket
  // buffer is part of what the baseline measures.
  const int flags = ::fcntl(theirs.get(), F_GETFL);
  ::fcntl(theirs.get(), F_SETFL, flags & ~O_NONBLOCK);

  wl_resource* res = wl_resource_create(client, &zcpipe_socket_stream_v1_interface, 1, id);
  if (res == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  auto* st = new SocketStream;
  st->server = server;
  st->resource = res;
  st->surface = surface;
  st->chunk = chunk;
  st->fd = std::move(mine);
  wl_resource_set_implementation(res, &kStreamImpl, st, &stream_destroyed);
  wl_event_loop* loop = wl_display_get_event_loop(server->display);
  st->source = wl_event_loop_add_fd(loop, st->fd.get(), WL_EVENT_READABLE, &stream_readable, st);
  st->stall_timer = wl_event_loop_add_timer(loop, &stream_stall, st);
  if (st->source == nullptr || st->stall_timer == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  surface->stream = st;
  // libwayland duplicates the fd into the message; ours closes at scope end.
  zcpipe_socket_stream_v1_send_socket(res, theirs.get());
}

const struct zcpipe_socket_manager_v1_interface kManagerImpl = {destroy_res, manager_get_stream};

void bind_manager(wl_client* client, void* data, uint32_t version, uint32_t id) {
  wl_resource* r = wl_resource_create(client, &zcpipe_socket_manager_v1_interface, static_cast<int>(version), id);
  if (r == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(r, &kManagerImpl, data, nullptr);
}

}  // namespace

bool stream_attach_pending(const SocketStream& st) { return st.pending_attach.has_value(); }

StreamCommit stream_take_commit(Surface& s, CommitContent& c, ResourceList& frames, ResourceList& feedbacks) {
  SocketStream& st = *s.stream;
  if (!st.pending_attach) return StreamCommit::none;
  const uint64_t seq = *st.pending_attach;
  st.pending_attach.reset();
  if (st.failed) return StreamCommit::failed;
  if (st.complete) {
    if (!SocketStream::same_seq(st.header.seq, seq)) {
      st.fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SEQUENCE,
              fmt::format("attach_frame({}) but the next frame on the socket is {}", seq, st.header.seq));
      return StreamCommit::failed;
    }
    c = st.content();
    return StreamCommit::ready;
  }
  if (st.deferred) {
    st.fail(ZCPIPE_SOCKET_STREAM_V1_ERROR_TOO_MANY_FRAMES,
            fmt::format("commit for frame {} while the commit for frame {} still waits for its bytes", seq,
                        *st.deferred));
    return StreamCommit::failed;
  }
  // Not all bytes are here yet: hold the commit (like waiting for a fence).
  st.deferred = seq;
  st.deferred_frames.take_all(frames);
  st.deferred_feedbacks.take_all(feedbacks);
  return StreamCommit::deferred;
}

void stream_frame_consumed(SocketStream& st) {
  st.complete = false;
  st.have_header = false;
  st.header_got = 0;
  st.body_got = 0;
  if (!st.failed) st.set_reading(true);
}

void stream_surface_destroyed(SocketStream& st) {
  st.surface = nullptr;
  st.drop_deferred();
}

Result<void> Server::Impl::init_socket_baseline() {
  if (wl_global_create(display, &zcpipe_socket_manager_v1_interface, 1, this, &bind_manager) == nullptr)
    return Error{ENOMEM, "cannot create zcpipe_socket_manager_v1 global"};
  return {};
}

}  // namespace zc::server
