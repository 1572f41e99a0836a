// zwp_linux_dmabuf_v1: how a client hands the compositor a buffer by file
// descriptor. The client sends, per plane, an fd plus offset, stride and
// modifier (zwp_linux_buffer_params_v1.add), then the size and format
// (create / create_immed). No pixel crosses the socket: the fd travels as
// SCM_RIGHTS ancillary data and the kernel installs a new descriptor for
// the same dma-buf in the compositor.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/format.h"
#include "common/log.h"
#include "linux-dmabuf-unstable-v1-server-protocol.h"
#include "server/dmabuf_params.h"
#include "server/internal.h"

namespace zc::server {
namespace {

void destroy_res(wl_client*, wl_resource* r) { wl_resource_destroy(r); }

// ----------------------------------------------------------------- wl_buffer
const struct wl_buffer_interface kBufferImpl = {destroy_res};

void buffer_destroyed(wl_resource* r) { delete static_cast<ClientBuffer*>(wl_resource_get_user_data(r)); }

// --------------------------------------------------------------- params
struct Params {
  Server::Impl* server;
  ParamsState state;
};

Params* params_of(wl_resource* r) { return static_cast<Params*>(wl_resource_get_user_data(r)); }

void params_add(wl_client*, wl_resource* r, int32_t raw_fd, uint32_t plane_idx, uint32_t offset,
                uint32_t stride, uint32_t mod_hi, uint32_t mod_lo) {
  UniqueFd fd{raw_fd};  // owned from the first statement: every error path closes it
  Params* p = params_of(r);
  const uint64_t modifier = (uint64_t{mod_hi} << 32) | mod_lo;
  if (auto err = check_add(p->state, plane_idx, modifier)) {
    p->server->post_error(r, err->code, err->message);
    return;
  }
  ParamsPlane& plane = p->state.planes[plane_idx];
  plane.fd = std::move(fd);
  plane.offset = offset;
  plane.stride = stride;
  plane.modifier = modifier;
  plane.set = true;
}

// Validates and imports; returns the new ClientBuffer or posts the error.
// `immed` selects how an import failure is reported (see the protocol).
ClientBuffer* import(wl_resource* r, int32_t width, int32_t height, uint32_t format, uint32_t flags,
                     bool immed) {
  Params* p = params_of(r);
  Server::Impl* server = p->server;
  const auto& formats = server->formats;
  auto supported = [&formats](uint32_t f, uint64_t m) {
    return std::find(formats.begin(), formats.end(), std::make_pair(f, m)) != formats.end();
  };
  buffer::Dmabuf d;
  if (auto err = check_create(p->state, width, height, format, flags, supported, d)) {
    if (err->kind == ParamsError::Kind::protocol || immed) {
      server->post_error(r, err->code, err->message);
    } else {
      server->counters.import_failures++;
      log::warn("dmabuf import failed: {}", err->message);
      zwp_linux_buffer_params_v1_send_failed(r);
    }
    return nullptr;
  }
  // Say honestly what arrived: a real dma-buf, or shared memory (memfd)
  // that only a CPU-reading output can show.
  const auto kind = buffer::is_dmabuf_fd(d.planes[0].fd.get()) ? buffer::Kind::dmabuf
                                                                : buffer::Kind::shared_memory;
  // A dma-buf cannot shrink under us; a memfd can, and reading a mapping
  // past its new end is a SIGBUS in the compositor. Accept shared memory only
  // when it is sealed against shrinking.
  if (kind == buffer::Kind::shared_memory) {
    const int seals = ::fcntl(d.planes[0].fd.get(), F_GET_SEALS);
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
      struct statfs fs {};
      const long fs_type = ::fstatfs(d.planes[0].fd.get(), &fs) == 0 ? static_cast<long>(fs.f_type) : -1;
      const std::string msg = fmt::format(
          "the fd is neither a dma-buf (its filesystem type is 0x{:x}, a dma-buf's is 0x{:x}) nor memory "
          "sealed with F_SEAL_SHRINK ({}): its owner could shrink it under the compositor",
          fs_type, DMA_BUF_MAGIC,
          seals < 0 ? fmt::format("F_GET_SEALS: {}", std::strerror(errno)) : fmt::format("seals 0x{:x}", seals));
      if (immed) {
        server->post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER, msg);
      } else {
        server->counters.import_failures++;
        log::warn("dmabuf import failed: {}", msg);
        zwp_linux_buffer_params_v1_send_failed(r);
      }
      return nullptr;
    }
  }
  auto* cb = new ClientBuffer;
  cb->storage = std::make_shared<buffer::Buffer>(std::move(d), kind);
  server->counters.buffers_imported++;
  return cb;
}

wl_resource* make_buffer_resource(wl_client* client, ClientBuffer* cb, uint32_t id) {
  wl_resource* b = wl_resource_create(client, &wl_buffer_interface, 1, id);
  if (b == nullptr) {
    delete cb;
    wl_client_post_no_memory(client);
    return nullptr;
  }
  cb->resource = b;
  wl_resource_set_implementation(b, &kBufferImpl, cb, &buffer_destroyed);
  return b;
}

void params_create(wl_client* client, wl_resource* r, int32_t w, int32_t h, uint32_t format, uint32_t flags) {
  ClientBuffer* cb = import(r, w, h, format, flags, false);
  if (cb == nullptr) return;
  if (wl_resource* b = make_buffer_resource(client, cb, 0)) zwp_linux_buffer_params_v1_send_created(r, b);
}

void params_create_immed(wl_client* client, wl_resource* r, uint32_t id, int32_t w, int32_t h, uint32_t format,
                         uint32_t flags) {
  ClientBuffer* cb = import(r, w, h, format, flags, true);
  if (cb == nullptr) return;
  make_buffer_resource(client, cb, id);
}

const struct zwp_linux_buffer_params_v1_interface kParamsImpl = {destroy_res, params_add, params_create,
                                                                  params_create_immed};

void params_destroyed(wl_resource* r) { delete params_of(r); }

// ------------------------------------------------------------- feedback (v4)
// Feedback tells the client which device to allocate on (main_device) and,
// in tranches of falling preference, which format/modifier pairs to use:
// first what the display scans out as it is (the SCANOUT flag: no copy),
// then everything the compositor accepts (some of it only by copying).
// Every pair is an index into the shared format table.
const struct zwp_linux_dmabuf_feedback_v1_interface kFeedbackImpl = {destroy_res};

void send_tranche(wl_resource* fb, wl_array* device, const std::vector<std::pair<uint32_t, uint64_t>>& table,
                  const std::vector<std::pair<uint32_t, uint64_t>>& pairs, uint32_t flags) {
  wl_array indices;
  wl_array_init(&indices);
  for (size_t i = 0; i < table.size(); ++i) {
    if (std::find(pairs.begin(), pairs.end(), table[i]) == pairs.end()) continue;
    if (auto* p = static_cast<uint16_t*>(wl_array_add(&indices, sizeof(uint16_t)))) *p = static_cast<uint16_t>(i);
  }
  zwp_linux_dmabuf_feedback_v1_send_tranche_target_device(fb, device);
  zwp_linux_dmabuf_feedback_v1_send_tranche_formats(fb, &indices);
  zwp_linux_dmabuf_feedback_v1_send_tranche_flags(fb, flags);
  zwp_linux_dmabuf_feedback_v1_send_tranche_done(fb);
  wl_array_release(&indices);
}

void send_feedback(Server::Impl& s, wl_resource* fb) {
  zwp_linux_dmabuf_feedback_v1_send_format_table(fb, s.format_table.get(), s.format_table_size);
  const dev_t dev = *s.out->device();
  wl_array dev_array;
  wl_array_init(&dev_array);
  if (void* p = wl_array_add(&dev_array, sizeof dev)) std::memcpy(p, &dev, sizeof dev);
  zwp_linux_dmabuf_feedback_v1_send_main_device(fb, &dev_array);
  if (!s.scanout_formats.empty())
    send_tranche(fb, &dev_array, s.formats, s.scanout_formats, ZWP_LINUX_DMABUF_FEEDBACK_V1_TRANCHE_FLAGS_SCANOUT);
  if (s.formats != s.scanout_formats) send_tranche(fb, &dev_array, s.formats, s.formats, 0);
  zwp_linux_dmabuf_feedback_v1_send_done(fb);
  wl_array_release(&dev_array);
}

// A feedback object, sent once now. `surface` (may be null: the default
// feedback) keeps the object in its list, so that the compositor can send it
// again when it learns something about that surface's buffers.
void make_feedback(wl_client* client, wl_resource* r, uint32_t id, Surface* surface) {
  auto* s = static_cast<Server::Impl*>(wl_resource_get_user_data(r));
  wl_resource* fb = wl_resource_create(client, &zwp_linux_dmabuf_feedback_v1_interface, wl_resource_get_version(r), id);
  if (fb == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  if (surface != nullptr) {
    // Into the surface's list at once (resource_list.h's rule), and out of
    // it when the client destroys the feedback first.
    wl_resource_set_implementation(fb, &kFeedbackImpl, nullptr, &ResourceList::unlink_on_destroy);
    surface->dmabuf_feedbacks.push_back(fb);
  } else {
    wl_resource_set_implementation(fb, &kFeedbackImpl, nullptr, nullptr);
  }
  send_feedback(*s, fb);
}

// ------------------------------------------------------------ the global
void dmabuf_create_params(wl_client* client, wl_resource* r, uint32_t id) {
  wl_resource* res =
      wl_resource_create(client, &zwp_linux_buffer_params_v1_interface, wl_resource_get_version(r), id);
  if (res == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  auto* p = new Params{static_cast<Server::Impl*>(wl_resource_get_user_data(r)), {}};
  wl_resource_set_implementation(res, &kParamsImpl, p, &params_destroyed);
}

void dmabuf_get_default_feedback(wl_client* client, wl_resource* r, uint32_t id) {
  make_feedback(client, r, id, nullptr);
}
// Per-surface feedback starts as the default one (the display's scanout
// tranche first, then everything accepted): zcpipe shows one fullscreen
// surface, so the plane is every surface's first hope. What makes it
// per-surface is that it is sent again when this surface's frames turn out
// to be copied (surface_feedback_learned, below).
void dmabuf_get_surface_feedback(wl_client* client, wl_resource* r, uint32_t id, wl_resource* surface) {
  // libwayland checked that the argument is a wl_surface; zcpipe's own.
  Surface* s = surface_from_resource(surface);
  make_feedback(client, r, id, s);
}

const struct zwp_linux_dmabuf_v1_interface kDmabufImpl = {destroy_res, dmabuf_create_params,
                                                          dmabuf_get_default_feedback,
                                                          dmabuf_get_surface_feedback};

void bind_dmabuf(wl_client* client, void* data, uint32_t version, uint32_t id) {
  auto* s = static_cast<Server::Impl*>(data);
  wl_resource* r = wl_resource_create(client, &zwp_linux_dmabuf_v1_interface, static_cast<int>(version), id);
  if (r == nullptr) {
    wl_client_post_no_memory(client);
    return;
  }
  wl_resource_set_implementation(r, &kDmabufImpl, s, nullptr);
  if (version >= 4) return;  // v4 clients learn formats from feedback instead
  for (const auto& [format, modifier] : s->formats) {
    if (version >= 3) {
      zwp_linux_dmabuf_v1_send_modifier(r, format, static_cast<uint32_t>(modifier >> 32),
                                        static_cast<uint32_t>(modifier & 0xffffffffu));
    } else if (modifier == DRM_FORMAT_MOD_INVALID) {
      zwp_linux_dmabuf_v1_send_format(r, format);
    }
  }
}

// The format table is shared read-only with every client: a sealed memfd of
// {uint32 format, uint32 padding, uint64 modifier} entries.
Result<void> build_format_table(Server::Impl& s) {
  struct Entry {
    uint32_t format;
    uint32_t pad;
    uint64_t modifier;
  };
  std::vector<Entry> entries;
  for (const auto& [f, m] : s.formats) entries.push_back({f, 0, m});
  const size_t size = entries.size() * sizeof(Entry);
  UniqueFd fd{::memfd_create("zcpipe-dmabuf-formats", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
  if (!fd) return Error::from_errno("memfd_create (format table)");
  if (::write(fd.get(), entries.data(), size) != static_cast<ssize_t>(size))
    return Error::from_errno("write format table");
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    return Error::from_errno("seal format table");
  s.format_table = std::move(fd);
  s.format_table_size = static_cast<uint32_t>(size);
  return {};
}

// The copy reasons a different buffer from the client would remove, and that
// feedback can name: the pair (format, modifier) the plane takes, and a
// buffer stored top-down (a client that renders with GL can flip its
// drawing instead of setting Y_INVERT; the scanout tranche carries no flag
// for it, but telling the client its buffer is not what the plane wants is
// the hint, as Weston's "scanout tranche needed" is).
//
// Not fixable through feedback:
//   size_mismatch  feedback names format/modifier pairs, never a size; the
//                  size a fullscreen client should use arrives in its
//                  xdg_toplevel.configure, not here;
//   not_dmabuf     shared memory cannot be scanned out whatever its format;
//   import_failed, test_only_failed, commit_failed: the driver refused a
//                  buffer that looked right; the same pair again would fail
//                  the same way.
bool feedback_fixable(const output::ScanoutReasons& reasons) {
  using output::ScanoutReason;
  if (reasons.empty()) return false;
  output::ScanoutReasons fixable;
  fixable.add(ScanoutReason::format_not_on_plane);
  fixable.add(ScanoutReason::modifier_not_on_plane);
  fixable.add(ScanoutReason::y_invert);
  // Every blocker must be fixable: a new format alone would not put a
  // buffer of the wrong size on the plane, and the client's reallocation
  // would be wasted.
  return (reasons.bits() & ~fixable.bits()) == 0;
}

}  // namespace

bool feedback_resend_needed(uint32_t& last, const output::ScanoutReasons& reasons) {
  const uint32_t now = feedback_fixable(reasons) ? reasons.bits() : 0;
  if (now == last) return false;  // nothing new: no resend per frame
  last = now;
  // Zero-copy again (or copied for reasons feedback cannot fix): the feedback
  // already sent stays true, so nothing is sent. (Weston removes its scanout
  // tranche then; zcpipe's per-surface feedback always carries it.)
  return now != 0;
}

void surface_feedback_learned(Server::Impl& server, Surface& s, const output::ScanoutReasons& reasons) {
  if (!feedback_resend_needed(s.feedback_reasons, reasons)) return;
  if (s.dmabuf_feedbacks.empty() || !server.out->device() || server.scanout_formats.empty()) return;
  // The whole feedback again (format table, main_device, tranches, done):
  // the protocol makes each `done` replace everything the client knew. Its
  // first tranche, flagged SCANOUT, lists exactly the pairs the plane takes.
  //
  // The protocol: "Compositors can re-send the parameters when the current
  // client buffer allocations are sub-optimal. Compositors should not
  // re-send the parameters if re-allocating the buffers would not result in
  // a more optimal configuration. In particular, compositors should avoid
  // sending the exact same parameters multiple times in a row." The first
  // two hold here (copied now, scanned out after a reallocation: the reasons
  // are all fixable). The parameters are the ones this surface got first:
  // Weston's per-surface feedback starts without a scanout tranche and adds
  // one here; zcpipe shows one fullscreen surface, so its feedback names the
  // plane from the start and a client that reads the first tranche is
  // zero-copy from its first frame. What the resend adds is the news that
  // this client's buffers are not what the plane takes; it is sent once per
  // change of reasons, so never the same parameters repeatedly.
  // Resending walks the list without taking entries out of it.
  s.dmabuf_feedbacks.for_each([&server](wl_resource* fb) { send_feedback(server, fb); });
  server.counters.surface_feedback_resent++;
  log::info("dmabuf feedback: surface frames copied ({}); sent its feedback again with the scanout tranche",
            reasons.describe());
}

ClientBuffer* client_buffer_from_resource(wl_resource* r) {
  if (r == nullptr || !wl_resource_instance_of(r, &wl_buffer_interface, &kBufferImpl)) return nullptr;
  return static_cast<ClientBuffer*>(wl_resource_get_user_data(r));
}

Result<void> Server::Impl::init_linux_dmabuf() {
  // Version 4 (feedback) only when there is a DRM device to name as main_device.
  int version = 3;
  if (out->device()) {
    if (auto r = build_format_table(*this); !r) return r;
    version = 4;
  }
  if (wl_global_create(display, &zwp_linux_dmabuf_v1_interface, version, this, &bind_dmabuf) == nullptr)
    return Error{ENOMEM, "cannot create zwp_linux_dmabuf_v1 global"};
  return {};
}

}  // namespace zc::server
