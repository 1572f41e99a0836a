// What libwayland does not tell a compositor about wl_shm: where in its pool
// a buffer starts, and how large that pool is.
//
// libwayland implements wl_shm itself (pools, buffers, the SIGBUS guard) and
// exposes a buffer's width, height, stride, format and data pointer, but not
// its offset into the pool nor the pool's size (libwayland 1.21 has no
// getter for either). Both are needed to check that a buffer lies inside
// its pool (shm_geometry.h). They travel in the client's own requests
// (wl_shm.create_pool, wl_shm_pool.resize, wl_shm_pool.create_buffer), and
// libwayland shows every request to a protocol logger just before it
// dispatches it: that is where they are recorded, per client, by object id.
//
// Object ids are reused once an object is gone, so entries are keyed by id
// and overwritten by the next creation with that id; a buffer keeps its
// pool's size alive (shared_ptr) after the pool object itself is destroyed,
// as libwayland keeps the pool's mapping alive for it.
#include <fmt/core.h>

#include <cstring>
#include <memory>
#include <unordered_map>

#include "server/internal.h"
#include "server/shm_geometry.h"

namespace zc::server {
namespace {

struct BufferPlace {
  std::shared_ptr<int64_t> pool_size;  // shared with the pool: resize grows it
  int32_t offset = 0;
};

struct ShmClient {
  wl_listener destroyed;
  wl_client* client = nullptr;
  uint32_t shm_id = 0;  // the wl_shm object errors are posted on
  std::unordered_map<uint32_t, std::shared_ptr<int64_t>> pools;  // wl_shm_pool id → size
  std::unordered_map<uint32_t, BufferPlace> buffers;             // wl_buffer id → place
};

void shm_client_destroyed(wl_listener* l, void*) {
  ShmClient* c = wl_container_of(l, c, destroyed);
  delete c;
}

ShmClient& shm_client(wl_client* client) {
  if (wl_listener* l = wl_client_get_destroy_listener(client, &shm_client_destroyed)) {
    ShmClient* c = wl_container_of(l, c, destroyed);
    return *c;
  }
  auto* c = new ShmClient;
  c->client = client;
  c->destroyed.notify = &shm_client_destroyed;
  wl_client_add_destroy_listener(client, &c->destroyed);
  return *c;
}

bool is(wl_resource* r, const wl_interface& iface) {
  return std::strcmp(wl_resource_get_class(r), iface.name) == 0;
}

// Opcodes and argument order from wayland.xml:
//   wl_shm.create_pool(new_id, fd, size)                               opcode 0
//   wl_shm_pool.create_buffer(new_id, offset, width, height, stride, format)  opcode 0
//   wl_shm_pool.destroy()                                              opcode 1
//   wl_shm_pool.resize(size)                                           opcode 2
//   wl_buffer.destroy()                                                opcode 0
void on_request(void*, wl_protocol_logger_type direction, const wl_protocol_logger_message* m) {
  if (direction != WL_PROTOCOL_LOGGER_REQUEST) return;
  wl_resource* r = m->resource;
  const int op = m->message_opcode;
  const wl_argument* a = m->arguments;
  if (is(r, wl_shm_interface)) {
    if (op != 0 || m->arguments_count < 3) return;
    ShmClient& c = shm_client(wl_resource_get_client(r));
    c.shm_id = wl_resource_get_id(r);
    c.pools[a[0].n] = std::make_shared<int64_t>(a[2].i);
  } else if (is(r, wl_shm_pool_interface)) {
    ShmClient& c = shm_client(wl_resource_get_client(r));
    const uint32_t id = wl_resource_get_id(r);
    auto pool = c.pools.find(id);
    if (pool == c.pools.end()) return;
    if (op == 0 && m->arguments_count >= 6) {
      c.buffers[a[0].n] = BufferPlace{pool->second, a[1].i};
    } else if (op == 1) {
      c.pools.erase(pool);
    } else if (op == 2 && m->arguments_count >= 1) {
      // libwayland refuses to shrink a pool (and disconnects the client), so
      // the recorded size only ever grows to what the pool maps.
      *pool->second = std::max<int64_t>(*pool->second, a[0].i);
    }
  } else if (is(r, wl_buffer_interface) && op == 0) {
    if (wl_listener* l = wl_client_get_destroy_listener(wl_resource_get_client(r), &shm_client_destroyed)) {
      ShmClient* c = wl_container_of(l, c, destroyed);
      c->buffers.erase(wl_resource_get_id(r));
    }
  }
}

}  // namespace

Result<void> Server::Impl::init_shm_tracking() {
  shm_logger = wl_display_add_protocol_logger(display, &on_request, this);
  if (shm_logger == nullptr) return Error{ENOMEM, "cannot add the wl_shm protocol logger"};
  return {};
}

bool Server::Impl::check_shm_buffer(wl_resource* buffer) {
  wl_shm_buffer* shm = wl_shm_buffer_get(buffer);
  if (shm == nullptr) return true;
  wl_client* client = wl_resource_get_client(buffer);
  ShmClient& c = shm_client(client);
  const auto place = c.buffers.find(wl_resource_get_id(buffer));
  // Every wl_shm buffer was created by a create_buffer request this logger
  // saw; if not, its extent is unknown and it is not read.
  const int64_t pool_size = place != c.buffers.end() ? *place->second.pool_size : 0;
  const int32_t offset = place != c.buffers.end() ? place->second.offset : 0;
  auto err = check_shm_geometry(wl_shm_buffer_get_width(shm), wl_shm_buffer_get_height(shm),
                                wl_shm_buffer_get_stride(shm), wl_shm_buffer_get_format(shm), offset,
                                static_cast<size_t>(std::max<int64_t>(pool_size, 0)));
  if (!err) return true;
  // The error belongs to wl_shm (its codes); the buffer is named in the text.
  wl_resource* target = c.shm_id != 0 ? wl_client_get_object(client, c.shm_id) : nullptr;
  if (target == nullptr || !is(target, wl_shm_interface)) target = buffer;
  post_error(target, err->code, fmt::format("wl_buffer@{}: {}", wl_resource_get_id(buffer), err->message));
  return false;
}

}  // namespace zc::server
