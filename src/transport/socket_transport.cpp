// The copying baseline (protocol/zcpipe-socket-v1.xml): the compositor hands
// the client one end of a socketpair, and every frame's pixels are written
// through it in chunks (transport/socket_frame.h). The frame lives in private
// memory that never leaves this process.
//
// "Release" is immediate here: when write() returns, the kernel has copied
// every byte into the socket buffer, so the buffer may be drawn into again
// before the compositor has even read the frame.
#include <wayland-client.h>

#include <climits>

#include "stats/trace.h"
#include "transport/internal.h"
#include "transport/socket_frame.h"
#include "wire/socket_wire.h"
#include "zcpipe-socket-v1-client-protocol.h"

namespace zc::transport {

// The wire format carries its own copy of the stream's error codes (it
// belongs to neither side); check it against the XML the scanner read.
static_assert(static_cast<uint32_t>(wire::StreamError::bad_magic) == ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_MAGIC);
static_assert(static_cast<uint32_t>(wire::StreamError::bad_format) == ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_FORMAT);
static_assert(static_cast<uint32_t>(wire::StreamError::bad_size) == ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SIZE);
static_assert(static_cast<uint32_t>(wire::StreamError::truncated) == ZCPIPE_SOCKET_STREAM_V1_ERROR_TRUNCATED);
static_assert(static_cast<uint32_t>(wire::StreamError::bad_sequence) == ZCPIPE_SOCKET_STREAM_V1_ERROR_BAD_SEQUENCE);
static_assert(static_cast<uint32_t>(wire::StreamError::too_many_frames) ==
              ZCPIPE_SOCKET_STREAM_V1_ERROR_TOO_MANY_FRAMES);

namespace {

void stream_socket(void* data, zcpipe_socket_stream_v1*, int32_t fd) { *static_cast<UniqueFd*>(data) = UniqueFd{fd}; }
const zcpipe_socket_stream_v1_listener kStreamListener = {stream_socket};

class SocketTransport final : public Transport {
 public:
  SocketTransport(const Connection& conn, const RingConfig& config, std::unique_ptr<buffer::Allocator> allocator,
                  zcpipe_socket_manager_v1* manager, stats::FrameLedger* ledger)
      : conn_(conn), cfg_(config), allocator_(std::move(allocator)), manager_(manager), ledger_(ledger) {}
  ~SocketTransport() override {
    if (stream_ != nullptr) zcpipe_socket_stream_v1_destroy(stream_);
    zcpipe_socket_manager_v1_destroy(manager_);
  }

  Kind kind() const override { return Kind::socket; }

  // One private frame (never shared), and the data socket.
  Result<void> allocate_ring(wl_surface* surface, const ModifierChoice&) override {
    surface_ = surface;
    auto b = allocator_->allocate(cfg_.width, cfg_.height, cfg_.format, {});
    if (!b) return b.error();
    slot_.buffer = std::move(b.value());
    stream_ = zcpipe_socket_manager_v1_get_stream(manager_, surface, cfg_.chunk);
    zcpipe_socket_stream_v1_add_listener(stream_, &kStreamListener, &data_socket_);
    while (!data_socket_)
      if (auto r = conn_.dispatch("data socket"); !r) return r;
    return {};
  }

  Slot* acquire() override { return &slot_; }

  // Writes every pixel through the data socket first, then tells the
  // compositor which frame the next commit shows.
  Result<void> submit(Slot& slot, uint64_t frame) override {
    buffer::Buffer& b = *slot.buffer;
    auto px = b.map(true);  // mapped once at allocation: the same mapping
    if (!px) return px.error();
    wire::SocketFrameHeader h;
    h.seq = frame;
    h.width = b.width();
    h.height = b.height();
    h.stride = b.stride();
    h.format = b.format();
    h.byte_count = b.desc().plane0_extent();
    if (auto r = write_frame(data_socket_.get(), h, *px, cfg_.chunk, ledger_); !r) return r;
    zcpipe_socket_stream_v1_attach_frame(stream_, static_cast<uint32_t>(frame));
    ZC_TRACE("zcpipe_socket_stream_v1.attach_frame: the next commit shows this frame from the socket", 0);
    wl_surface_damage_buffer(surface_, 0, 0, INT32_MAX, INT32_MAX);
    return {};
  }

  const buffer::Allocator& allocator() const override { return *allocator_; }
  std::string allocator_description() const override {
    return "private memory (memfd, never shared: the pixels themselves go through the socket)";
  }
  const buffer::Buffer* first_buffer() const override { return slot_.buffer.get(); }

 private:
  Connection conn_;
  RingConfig cfg_;
  std::unique_ptr<buffer::Allocator> allocator_;
  zcpipe_socket_manager_v1* manager_;
  stats::FrameLedger* ledger_;
  zcpipe_socket_stream_v1* stream_ = nullptr;
  wl_surface* surface_ = nullptr;
  UniqueFd data_socket_;  // our end of the compositor's socketpair
  Slot slot_;
};

}  // namespace

Result<std::unique_ptr<Transport>> create_socket_transport(const Connection& conn, const RingConfig& config,
                                                           stats::FrameLedger* ledger) {
  auto it = conn.globals->find(zcpipe_socket_manager_v1_interface.name);
  if (it == conn.globals->end())
    return Error{ENOTSUP, "compositor does not offer zcpipe_socket_manager_v1 (the socket baseline)"};
  auto alloc = buffer::create_memfd_allocator();
  if (!alloc) return alloc.error();
  auto* manager = static_cast<zcpipe_socket_manager_v1*>(
      wl_registry_bind(conn.registry, it->second.name, &zcpipe_socket_manager_v1_interface, 1));
  return std::unique_ptr<Transport>(
      std::make_unique<SocketTransport>(conn, config, std::move(alloc.value()), manager, ledger));
}

}  // namespace zc::transport
